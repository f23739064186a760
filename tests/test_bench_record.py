"""``python -m robsens bench <name> --record``: each benchmark's printed output goes into its
own section of docs/benchmarks.md with the command, the machine and the date; refreshing one
section keeps the others."""

from __future__ import annotations

from pathlib import Path

import robsens.bench as bench


def test_record_replaces_only_its_own_section(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bench, "RECORD", tmp_path / "benchmarks.md")
    bench.record("maps", "maps: 1.0 s", "cpu A, load 0.1", "cpu A, load 0.2")
    bench.record("corrupt", "corrupt: 2.0 s", "cpu A, load 0.3", "cpu A, load 0.3")
    bench.record("maps", "maps: 0.5 s", "cpu B, load 1.0", "cpu B, load 1.1")
    text = (tmp_path / "benchmarks.md").read_text()
    assert text.startswith(bench.HEADER)
    assert "maps: 0.5 s" in text and "maps: 1.0 s" not in text
    assert "corrupt: 2.0 s" in text and "cpu B, load 1.0" in text
    assert text.index("## corrupt") < text.index("## maps")  # sections in name order
    assert "`python -m robsens bench maps`" in text
