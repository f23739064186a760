"""DVC as versioning: `dvc plots show` draws the training and robustness curves, and a study
pushed to the default remote comes back byte for byte in a fresh clone, with nothing to
recompute."""

from __future__ import annotations

import configparser
import shutil
from pathlib import Path

import pytest
import yaml

from robsens.core.config import model_names
from robsens.pipeline import paths
from robsens.pipeline.stages import STAGES
from tests.conftest import ROOT, keep_models, make_project, run, small_study_params, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def test_plots_show_draws_training_and_robustness_curves(small_study: Path,
                                                         tmp_path: Path) -> None:
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], small_study)
    html = (tmp_path / "plots/index.html").read_text()
    plotted = [(stage, out) for stage in STAGES for out in stage.outs if out.plot]
    assert {out.path for _, out in plotted} == {
        paths.HISTORY, paths.ROBUSTNESS_CURVE, paths.SPURIOUS.history, paths.SPURIOUS_RFS_CURVE}
    params = small_study_params()
    for stage, out in plotted:
        for model in model_names(params, stage.model_set):
            path = paths.fill(out.path, model=model, seed=0).as_posix()
            assert f'"{path}"' in html, f"{path} not plotted"  # each file is one plot
    for field in ("epoch", "val_accuracy", "severity", "accuracy", "sigma", "rfs"):
        assert f'"field": "{field}"' in html, field
    assert "DVC failed to load" not in html


def test_default_remote_is_outside_the_project() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc/config")
    remote = config["core"]["remote"]
    url = config[f"'remote \"{remote}\"'"]["url"]
    assert (ROOT / ".dvc" / url).resolve().parent == ROOT.parent  # a sibling of the project


@pytest.fixture(scope="module")
def pushed(tmp_path_factory) -> Path:
    """A one-model study built by Snakemake, committed to git and pushed to the default
    remote (the directory beside the project)."""
    params = tiny_params()
    keep_models(params, ("erm",))
    params["mlflow"]["experiment"] = "robsens-remote"
    project = make_project(tmp_path_factory.mktemp("remote") / "project", params)
    shutil.copy2(ROOT / ".gitignore", project / ".gitignore")
    run(["snakemake", "--cores", "2"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "tiny study"], project)
    run(["dvc", "push"], project)
    return project


def _outputs(project: Path) -> dict[str, bytes]:
    """Every file DVC tracks (cached or in git), by path: not Snakemake's date of a directory
    output (``.snakemake_timestamp``, in .dvcignore)."""
    tracked = {}
    for base in ("data", "results", "reports"):
        for f in (project / base).rglob("*"):
            if f.is_file() and not (base == "results" and "checkpoints" in f.parts) \
                    and f.name != ".snakemake_timestamp":
                tracked[f.relative_to(project).as_posix()] = f.read_bytes()
    return tracked


def test_clone_pulls_every_output_and_recomputes_nothing(pushed: Path) -> None:
    assert (pushed.parent / "robsens-dvc-store/files/md5").is_dir()
    clone = pushed.parent / "clone"
    run(["git", "clone", "-q", str(pushed), str(clone)], pushed.parent)
    assert not (clone / "results").exists()
    run(["dvc", "pull"], clone)
    assert _outputs(clone) == _outputs(pushed)
    assert "up to date" in run(["dvc", "status"], clone).stdout
    # Pulled files get new mtimes in no particular order: `--touch --forceall` touches every
    # output in the DAG's order (recomputing nothing; a plain `--touch` skips jobs that only
    # become outdated by an earlier touch), then Snakemake finds nothing to do.
    run(["snakemake", "--touch", "--forceall", "--cores", "1"], clone)
    out = run(["snakemake", "-n"], clone)
    assert "Nothing to be done" in out.stdout + out.stderr, out.stdout
    # `--touch` may create the log folders, but no job ran to write into them
    assert not [f for f in (clone / paths.LOGS_DIR).rglob("*") if f.is_file() and f.stat().st_size]
    assert _outputs(clone) == _outputs(pushed)


def test_commit_drops_records_of_stages_dvc_yaml_no_longer_defines(pushed: Path,
                                                                   tmp_path: Path) -> None:
    """A seed taken out of params.yaml leaves its stages' records in dvc.lock (DVC never
    removes them); the commit Snakemake runs on success drops exactly those, keeps the rest
    as DVC wrote them, and leaves a clean ``dvc status``."""
    project = tmp_path / "project"
    shutil.copytree(pushed, project, symlinks=True)
    lock_file = project / "dvc.lock"
    recorded = yaml.safe_load(lock_file.read_text())["stages"]
    run(["python", "-m", "robsens", "pipeline", "commit"], project)
    as_dvc_writes_it = lock_file.read_text()
    again = run(["python", "-m", "robsens", "pipeline", "commit"], project)
    assert "dropped" not in again.stdout and lock_file.read_text() == as_dvc_writes_it

    # as if seed 1 had run and then been taken out of params.yaml
    stale = {name[:-1] + "1": entry for name, entry in recorded.items() if name.endswith("-0")}
    assert stale, "the tiny study has per-seed stages"
    lock_file.write_text(yaml.safe_dump({"schema": "2.0", "stages": {**recorded, **stale}},
                                        sort_keys=False))
    dropped = run(["python", "-m", "robsens", "pipeline", "commit"], project).stdout
    assert dropped.strip().endswith(", ".join(sorted(stale)))
    assert f"dropped {len(stale)} entries" in dropped
    assert lock_file.read_text() == as_dvc_writes_it
    assert run(["dvc", "status", "--quiet"], project, check=False).returncode == 0

    # an output missing (a run that did not finish): one line, dvc.lock untouched
    (project / "reports/summary.json").unlink()
    failed = run(["python", "-m", "robsens", "pipeline", "commit"], project, check=False)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
    assert [line for line in failed.stderr.splitlines() if line.startswith("error: ")] == [
        next(line for line in failed.stderr.splitlines() if "dvc commit:" in line)]
    assert lock_file.read_text() == as_dvc_writes_it
