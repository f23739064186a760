"""Training: every method learns, runs are deterministic, a killed job resumes exactly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from robsens.blocks.model import build_model
from robsens.core.domain import NUM_CLASSES
from robsens.core.io import load_json
from robsens.methods import build_method

from .conftest import ROOT, make_project, project_env, run, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def _one_model_per_method() -> list[str]:
    """The first model of each method in params.yaml (the extra radii add nothing here)."""
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["models"]
    return list({entry["method"]: name for name, entry in reversed(models.items())}.values())


@pytest.mark.parametrize("name", _one_model_per_method())
def test_a_few_steps_lower_the_loss(name: str) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    hp = params["models"][name]
    torch.manual_seed(0)
    model = build_model(params["model"], NUM_CLASSES)
    method = build_method(model, params, name)
    extra = method.extra_modules()
    opt = torch.optim.Adam(list(model.parameters()) + (list(extra.parameters()) if extra else []),
                           lr=3e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 28, 28, generator=g) * (torch.rand(32, 1, 28, 28, generator=g) > 0.7)
    y = torch.arange(32) % NUM_CLASSES
    epoch = hp.get("warmup_epochs", 0)  # the full objective, past any warm-up
    losses = []
    for _ in range(25):
        loss, stats = method.loss(x, y, epoch, torch.Generator().manual_seed(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        assert all(v == v for v in stats.values())
    assert losses[-1] < 0.9 * losses[0], losses  # adversarial objectives fall slowest


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """One uninterrupted tiny training run (3 epochs) through the CLI."""
    params = tiny_params()
    params["train"]["max_epochs"] = 3
    project = make_project(tmp_path_factory.mktemp("full"), params)
    run([sys.executable, "-m", "robsens", "synthesize"], project)
    run([sys.executable, "-m", "robsens", "train", "--model", "erm", "--seed", "0"], project)
    return project, params


def history_numbers(project: Path) -> list[dict]:
    rows = load_json(project / "results/models/erm/seed0/history.json")["epochs"]
    return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows]


def weights(project: Path) -> dict:
    return torch.load(project / "results/models/erm/seed0/model.pt")["state_dict"]


def test_training_is_deterministic(trained, tmp_path: Path) -> None:
    project, params = trained
    again = make_project(tmp_path / "again", params)
    run([sys.executable, "-m", "robsens", "synthesize"], again)
    run([sys.executable, "-m", "robsens", "train", "--model", "erm", "--seed", "0"], again)
    assert history_numbers(again) == history_numbers(project)


def test_killed_training_resumes_with_identical_results(trained, tmp_path: Path) -> None:
    project, params = trained
    params = {**params, "train": {**params["train"], "max_epochs": 3}}
    resumed = make_project(tmp_path / "resumed", params)
    run([sys.executable, "-m", "robsens", "synthesize"], resumed)
    cmd = [sys.executable, "-m", "robsens", "train", "--model", "erm", "--seed", "0"]
    proc = subprocess.Popen(cmd, cwd=resumed, env=project_env(resumed),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpt_dir = resumed / "results/checkpoints/erm/seed0"
    deadline = time.time() + 300
    while not list(ckpt_dir.glob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(ckpt_dir.glob("*.pt")), "no checkpoint was written before the kill"
    assert not (resumed / "results/models/erm/seed0/model.pt").exists()
    out = run(cmd, resumed)
    assert "resuming erm seed 0 from epoch" in out.stdout
    assert history_numbers(resumed) == history_numbers(project)
    for key, value in weights(project).items():
        assert torch.equal(value, weights(resumed)[key]), key


def test_unreachable_mlflow_loses_nothing(tmp_path: Path) -> None:
    """Dead backend: a training job logging live still succeeds with its files; `mlflow sync`
    uploads them later."""
    params = tiny_params()
    params["mlflow"]["log_training"] = "live"
    project = make_project(tmp_path / "p", params)
    env = project_env(project) | {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    run([sys.executable, "-m", "robsens", "synthesize"], project, env)
    out = run([sys.executable, "-m", "robsens", "train", "--model", "erm", "--seed", "0"],
              project, env)
    assert "WARNING: MLflow logging skipped" in out.stdout
    assert (project / "results/models/erm/seed0/model.pt").is_file()
    run([sys.executable, "-m", "robsens", "evaluate", "--model", "erm", "--seed", "0"],
        project, env)
    sync = run([sys.executable, "-m", "robsens", "mlflow", "sync"], project)
    assert "synced 1 run(s)" in sync.stdout
    from mlflow.tracking import MlflowClient

    client = MlflowClient(project_env(project)["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name(tiny_params()["mlflow"]["experiment"])
    (run_,) = client.search_runs([exp.experiment_id])
    assert "clean.accuracy" in run_.data.metrics and "val_accuracy" in run_.data.metrics



def test_checkpoint_of_other_code_is_not_resumed(tmp_path: Path, monkeypatch, capsys) -> None:
    from robsens.data.corner import synthesize
    from robsens.pipeline import deps
    from robsens.training import loop as train_module

    params = tiny_params()
    params["train"]["max_epochs"] = 1
    synthesize(params["data"], tmp_path / "data")
    args = (params, "erm", 0, tmp_path / "data", tmp_path / "out", tmp_path / "ckpt")
    train_module.train(*args)
    train_module.train(*args)
    assert "resuming erm seed 0 from epoch 1" in capsys.readouterr().out
    monkeypatch.setattr(deps, "code_digest", lambda modules: "edited code")
    train_module.train(*args)
    assert "resuming" not in capsys.readouterr().out
    assert len(list((tmp_path / "ckpt").glob("*.pt"))) == 2
