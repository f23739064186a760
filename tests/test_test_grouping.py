"""The suite's own parallelism: tests that share a study run on one pytest-xdist worker.

``./dev test`` runs two workers with ``--dist loadgroup``; tests/conftest.py puts the tests of
each shared study in one group so the study is built once. pytest-xdist carries the groups in
the node ids, and a pytest that ignores that (9.2 with xdist 3.8,
pytest-dev/pytest-xdist#1386) spreads the tests silently: nothing fails, every worker builds
the study again (the small study twice, 70-130 s of CI). This checks the installed pair.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

GROUPED = '''
import pytest

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("i", range(4))
def test_grouped(i):
    pass
'''


def test_loadgroup_runs_a_group_on_one_worker(tmp_path: Path) -> None:
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text(GROUPED)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
         "no:cacheprovider", "-o", "addopts=", "test_a.py", "test_b.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    workers = set(re.findall(r"\[(gw\d+)\].*PASSED", proc.stdout))
    assert len(re.findall(r"PASSED", proc.stdout)) == 8, proc.stdout[-3000:]
    assert len(workers) == 1, ("the group ran on several workers: install pytest<9.2",
                               proc.stdout[-3000:])
