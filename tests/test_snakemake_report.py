"""Snakemake's own tooling on the pipeline: `--report` holds every figure with its category
and caption and the run's provenance; `--lint` finds nothing that is not justified."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from robsens.pipeline.stages import STAGES
from robsens.report.figures import FIGURES
from tests.conftest import ROOT, make_project, run

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def _script_var(html: str, name: str) -> dict:
    """A JSON object the report embeds as ``var <name> = {...};``."""
    match = re.search(rf"var {name} = (\{{.*?\}});\s*</script>", html, re.S)
    assert match, f"no `var {name}` in the report"
    return json.loads(match.group(1))


def test_report_has_every_figure_with_category_caption_and_provenance(small_study: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    run(["snakemake", "--report", str(out)], small_study)
    html = out.read_text()
    results, categories = _script_var(html, "results"), _script_var(html, "categories")
    on_disk = {p.name for p in (small_study / "reports/figures").glob("*.png")}
    assert on_disk <= {f.file for f in FIGURES}, "a figure is written but not declared"
    assert {f.file for f in FIGURES if not f.only_if} <= on_disk, "a figure is missing"
    for figure in FIGURES:
        if figure.file not in on_disk:  # drawn only for some studies (its only_if)
            continue
        key = f"reports/figures/{figure.file}"
        png = (small_study / key).read_bytes()
        assert key in results, f"{figure.file} missing from the report"
        record = results[key]
        assert base64.b64encode(png).decode() in record["data_uri"], figure.file  # embedded
        assert figure.caption in record["caption"], figure.file
        assert key in categories[figure.category]["Other"], figure.file
    # provenance: every rule with its code, every job's run time, the study's config
    rules = _script_var(html, "rules")
    assert {s.name for s in STAGES} <= rules.keys()
    assert "reports/figures" in rules["report"]["output"]
    assert "fingerprints/report.json" in rules["report"]["input"]  # its code and params
    runtimes = re.search(r"var runtimes_spec = (\{.*?\});\s*</script>", html, re.S)
    assert runtimes and {s.name for s in STAGES} <= {
        v["rule"] for v in json.loads(runtimes.group(1))["data"]["values"]}
    assert "Study: 2 models" in html and "reproducibility mode" in html


def _justified(workflow: Path) -> set[str]:
    """Lint titles a `# lint-justified: <title>` comment in the workflow files explains."""
    files = [workflow / "Snakefile", *workflow.glob("workflow/**/*.smk")]
    return {m.group(1).strip() for f in files
            for m in re.finditer(r"#\s*lint-justified:\s*(.+)", f.read_text())}


def test_lint_finds_nothing_unjustified(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    proc = run(["snakemake", "--lint"], project, check=False)
    found = set(re.findall(r"^\s+\* (.+?):$", proc.stdout + proc.stderr, re.M))
    justified = _justified(project)
    assert proc.returncode == 0 or found, proc.stdout + proc.stderr  # it ran and parsed
    assert not found - justified, f"unjustified lints: {found - justified}"


def test_rules_have_docstrings_and_min_version(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    listed = run(["snakemake", "--list-rules"], project).stdout
    for stage in STAGES:
        assert f"{stage.name} ({stage.help})" in listed
    assert re.search(r"^all \(.+\)$", listed, re.M)
    assert re.search(r'^min_version\("9', (ROOT / "Snakefile").read_text(), re.M)
