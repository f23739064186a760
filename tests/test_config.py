"""params.yaml validation: one clear error naming the key, no traceback, before any job."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robsens.core.config import ParamsError
from robsens.pipeline.params import load_params, validate_params
from robsens.pipeline.runs import drop_removed_models, merge

from .conftest import ROOT, make_project, project_env, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


@pytest.fixture(scope="module")
def params() -> dict:
    return load_params(ROOT / "params.yaml")


@pytest.mark.parametrize(("path", "value", "key"), [
    (("train", "lr"), -1.0, "train.lr"),
    (("data", "corner_position"), "middle", "data.corner_position"),
    (("data", "n_trian"), 5, "data.n_trian"),
    (("models", "erm", "method"), "nope", "models.erm.method"),
    (("models", "fcl", "tau"), 0, "models.fcl.tau"),
    (("models", "fcl", "lamda"), 1.0, "models.fcl.lamda"),
    (("seeds",), [], "seeds"),
])
def test_invalid_value_names_the_key(params: dict, path: tuple, value, key: str) -> None:
    bad = copy.deepcopy(params)
    node = bad
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ParamsError, match=f"'{key}'"):
        validate_params(bad)


def test_default_and_overlay_configs_are_valid() -> None:
    """params.yaml alone, and with each overlay of configs/ laid over it as Snakemake does."""
    defaults = load_params(ROOT / "params.yaml")
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        config = copy.deepcopy(defaults)
        patch = yaml.safe_load(path.read_text())
        merge(config, patch)
        drop_removed_models(config)
        validate_params(config)
        assert config["run_name"] == path.stem, path  # an overlay names its run


def test_cli_reports_bad_params_without_traceback(tmp_path: Path, params: dict) -> None:
    bad = copy.deepcopy(params)
    bad["train"]["max_epochs"] = "many"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    proc = subprocess.run([sys.executable, "-m", "robsens", "--params", str(path), "validate"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "'train.max_epochs'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_snakemake_refuses_bad_params_before_any_job(tmp_path: Path) -> None:
    bad = tiny_params()
    bad["data"]["corner_fraction"] = 1.5
    project = make_project(tmp_path / "p", bad)
    proc = subprocess.run(["snakemake", "--cores", "1"], cwd=project, env=project_env(project),
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "'data.corner_fraction'" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (project / "data").exists()


def test_the_c_yaml_loader_reads_the_params_and_schema_as_the_python_one() -> None:
    """robsens.core.yamlio reads YAML in C where PyYAML has libyaml: same values."""
    from robsens.core.config import SCHEMA_PATH
    from robsens.core.yamlio import SafeLoader, read_yaml

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("this PyYAML was built without libyaml: robsens reads YAML in Python")
    assert SafeLoader is yaml.CSafeLoader
    for path in (ROOT / "params.yaml", SCHEMA_PATH, *sorted((ROOT / "configs").glob("*.yaml"))):
        text = path.read_text()
        assert read_yaml(text) == yaml.safe_load(text), path
