"""The fixed cost of a job: validation skips torch once a models section was accepted, the
commands that need no torch do not import it, determinism costs no compiler import, ./dev skips
pip when nothing changed, and the startup benchmark measures every part."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robsens.bench.startup import measure
from robsens.core.config import ParamsError
from robsens.pipeline.params import validate_params

from .conftest import ROOT, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

CHECK = ("import sys; from robsens.cli import main; main({argv!r}); "
         "print('torch' in sys.modules, 'mlflow' in sys.modules)")


def _loaded(args: list[str], cwd: Path, cache: Path) -> tuple[bool, bool]:
    """Whether ``python -m robsens <args>`` (its CLI, in-process) imported torch and MLflow."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", CHECK.format(argv=args)], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True).stdout
    torch_loaded, mlflow_loaded = out.split()[-2:]
    return torch_loaded == "True", mlflow_loaded == "True"


def test_validation_imports_torch_only_for_a_new_models_section(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    assert _loaded(["validate"], tmp_path, cache) == (True, False)  # first: the registry
    assert _loaded(["validate"], tmp_path, cache) == (False, False)
    assert _loaded(["pipeline", "deps", "train"], tmp_path, cache) == (False, False)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["models"]["fcl"]["lam"] = 0.25  # a new section: checked against the registry again
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert _loaded(["validate"], tmp_path, cache) == (True, False)


def test_a_cached_validation_still_rejects_bad_hyperparameters(tmp_path: Path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    params = tiny_params()
    validate_params(params)
    validate_params(params)  # from the record
    params["models"]["fcl"]["tau"] = -1.0
    with pytest.raises(ParamsError, match=r"models\.fcl\.tau"):
        validate_params(params)
    params["models"]["fcl"]["tau"] = 0.5
    params["models"]["fcl"]["typo"] = 1
    with pytest.raises(ParamsError, match=r"models\.fcl\.typo"):
        validate_params(params)


def test_determinism_switches_kernels_without_importing_the_compiler() -> None:
    """make_deterministic sets what torch.use_deterministic_algorithms(True, warn_only=True)
    sets for kernels, without the ~1 s import of Inductor (and sympy) that function costs."""
    code = ("import sys, torch; from robsens.core.runtime import make_deterministic; "
            "make_deterministic(3, 1); print(torch.are_deterministic_algorithms_enabled(), "
            "torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_num_threads(), "
            "'torch._inductor' in sys.modules, 'sympy' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "1", "False", "False"]


def test_dev_setup_skips_pip_while_the_environment_is_unchanged(tmp_path: Path) -> None:
    """A stamp from a finished install makes setup a no-op; editing pyproject.toml (or
    constraints.txt) makes it install again (here it fails fast: no pip in the fake venv)."""
    for name in ("dev", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    key = subprocess.run(
        ["bash", "-c", "source <(sed -n '/^setup_key()/,/^}/p' dev); setup_key"],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / ".venv" / "robsens-setup.stamp").write_text(key + "\n")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PYTHONNOUSERSITE": "1"}
    env["PATH"] = os.pathsep.join(["/usr/bin", "/bin"])
    fresh = subprocess.run(["./dev", "setup"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
    assert fresh.returncode == 0 and fresh.stdout == fresh.stderr == ""
    with (tmp_path / "pyproject.toml").open("a") as fh:
        fh.write("\n# changed\n")
    changed = subprocess.run(["./dev", "setup"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=300)
    assert changed.returncode != 0  # it went on to install (and found no index)


def test_startup_benchmark_times_every_part() -> None:
    params = tiny_params()
    result = measure(params, ["validate", "evaluate", "train"], repeats=1)
    for name in ("validate", "evaluate", "train"):
        r = result[name]
        assert r["total"] > r["python"] > 0 and r["cli_params"] > 0
    assert result["evaluate"]["torch"] > 0 and "torch" in result["evaluate"]["loaded"]
    assert result["evaluate"]["determinism"] > 0 and result["validate"]["determinism"] < 0.01
    # by default the report stage logs training runs: a training job loads no MLflow
    assert result["train"]["tracking"] == 0 and "mlflow" not in result["train"]["loaded"]
    params["mlflow"]["log_training"] = "live"
    live = measure(params, ["train"], repeats=1)["train"]
    assert live["tracking"] > 0  # it logs to MLflow as it trains: the client is opened
    # evaluations write files only (the report stage logs them): no MLflow, no client
    assert result["evaluate"]["tracking"] == 0 and "mlflow" not in result["evaluate"]["loaded"]
    assert result["validate"]["tracking"] == 0
    # warm: the same probe ran in a warm server's child, where torch was already loaded
    assert "torch" not in result["validate"]["loaded"]
    assert "torch" in result["validate"]["warm_loaded"] and result["validate"]["warm"] > 0
