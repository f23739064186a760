"""``reproducibility: portable``: the same bytes whatever the CPU's vector units.

Other machines are simulated on this one through the variables each math library reads to
pick its kernels (what an AVX2-only or a pre-AVX2 CPU would make it pick): ATen's
capability, oneDNN's ISA, numpy's dispatched features, OpenBLAS's core type, the default
thread count. The real commands run as subprocesses in a scratch project, on a snapshot of
the source (the training identity hashes the code, so an edit made meanwhile elsewhere in the
tree must not reach some machines and not others).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from robsens.core import reproducibility as repro

from .conftest import ROOT, project_env, run, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

# name -> what that machine's libraries would pick (ATen reads ATEN_CPU_CAPABILITY, oneDNN
# ONEDNN_MAX_CPU_ISA, numpy NPY_DISABLE_CPU_FEATURES, OpenBLAS OPENBLAS_CORETYPE)
MACHINES: dict[str, dict[str, str]] = {
    "avx512": {"OMP_NUM_THREADS": "4"},  # this machine, with more cores
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL", "OPENBLAS_CORETYPE": "Haswell"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL",
                "OPENBLAS_CORETYPE": "Nehalem"},
}
PIPELINE = [["synthesize"], ["corrupt"], ["train", "--model", "erm", "--seed", "0"],
            ["evaluate", "--model", "erm", "--seed", "0"], ["linear"]]
ARTIFACTS = ["data/corner/*", "data/corrupted/*", "results/models/erm/seed0/*",
             "results/metrics/erm/seed0/*", "results/linear/*"]
WEIGHTS = "results/models/erm/seed0/model.pt"
# what portable mode pins, plus the variables a user may have set that would change kernels
KNOBS = {*repro.portable_env(1, set()), "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES",
         "MKL_ENABLE_INSTRUCTIONS", "DNNL_MAX_CPU_ISA"}

needs_avx512 = pytest.mark.skipif(
    not {"avx2", "fma", "avx512f"} <= (repro._cpu_flags() or set()),
    reason="simulating AVX2 and AVX-512 machines needs an x86-64 CPU with AVX-512")


def _params(mode: str) -> dict:
    params = tiny_params()
    params["reproducibility"] = mode
    params["train"]["max_epochs"] = 1
    return params


def _machine(root: Path, src: Path, mode: str, machine: str, commands: list[list[str]]
             ) -> dict[str, str]:
    """Run ``commands`` in a fresh project on a simulated machine; md5 of every artifact."""
    root.mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(_params(mode), sort_keys=False))
    env = {k: v for k, v in project_env(root).items() if k not in KNOBS}
    env.update(MACHINES[machine], PYTHONPATH=str(src))
    for command in commands:
        run([sys.executable, "-m", "robsens", *command], root, env)
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for pattern in ARTIFACTS for p in sorted(root.glob(pattern)) if p.is_file()}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[tuple[str, str], dict[str, str]]:
    """(mode, machine) -> artifact hashes: the whole pipeline per machine in portable mode,
    synthesis and training only in native mode."""
    base = tmp_path_factory.mktemp("portability")
    src = base / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    jobs = {("portable", m): PIPELINE for m in MACHINES}
    jobs.update({("native", m): [PIPELINE[0], PIPELINE[2]] for m in ("avx512", "avx2")})
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool:
        futures = {key: pool.submit(_machine, base / "-".join(key), src, *key, cmds)
                   for key, cmds in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


@needs_avx512
def test_portable_outputs_are_the_same_bytes_on_every_machine(outputs) -> None:
    reference = outputs[("portable", "avx512")]
    assert WEIGHTS in reference and "results/linear/sweep.csv" in reference
    assert len(reference) >= 14  # 4 splits + manifest, 3 sets + subset + manifest, ...
    for machine in MACHINES:
        differing = sorted(k for k, v in outputs[("portable", machine)].items()
                           if reference.get(k) != v)
        assert outputs[("portable", machine)].keys() == reference.keys()
        assert not differing, f"portable mode on {machine} differs from avx512: {differing}"


@needs_avx512
def test_native_mode_weights_depend_on_the_machine(outputs) -> None:
    """The simulation is real: left alone, AVX2 and AVX-512 kernels train other weights."""
    native = outputs[("native", "avx512")], outputs[("native", "avx2")]
    assert native[0]["data/corner/train.npz"] == native[1]["data/corner/train.npz"]
    assert native[0][WEIGHTS] != native[1][WEIGHTS]  # same data, code and params


def test_pin_sets_every_variable_and_native_sets_none() -> None:
    environ = {"ATEN_CPU_CAPABILITY": "avx512", "NPY_ENABLE_CPU_FEATURES": "X86_V4"}
    assert repro.pin("native", 1, environ) == {}
    assert environ == {"ATEN_CPU_CAPABILITY": "avx512", "NPY_ENABLE_CPU_FEATURES": "X86_V4"}
    env = repro.portable_env(3, {"avx2", "fma", "avx512f"})
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["NPY_DISABLE_CPU_FEATURES"] == "X86_V4"  # only what the CPU has
    assert "NPY_DISABLE_CPU_FEATURES" not in repro.portable_env(1, {"avx2", "fma"})
    if repro.pin("portable", 2, environ):  # an x86-64 CPU with AVX2
        assert environ["ATEN_CPU_CAPABILITY"] == "avx2" and environ["OMP_NUM_THREADS"] == "2"
        assert "NPY_ENABLE_CPU_FEATURES" not in environ


def test_settings_come_from_the_params_file_the_cli_reads(tmp_path: Path) -> None:
    assert repro.params_file(["train", "--model", "erm"]) == Path("params.yaml")
    assert repro.params_file(["--params", "a.yaml", "train"]) == Path("a.yaml")
    assert repro.params_file(["--params=b.yaml", "linear"]) == Path("b.yaml")
    good = tmp_path / "p.yaml"
    good.write_text("threads: 2\nreproducibility: native\n")
    assert repro.read_settings(good) == ("native", 2)
    good.write_text("threads: 2\n")
    assert repro.read_settings(good) == ("portable", 2)
    for text in ["threads: 0\n", "reproducibility: fast\nthreads: 1\n", "[1, 2]", "{a: ["]:
        good.write_text(text)
        assert repro.read_settings(good) is None
    assert repro.read_settings(tmp_path / "missing.yaml") is None


def test_pinning_imports_no_math_library() -> None:
    """The pins must be in place before torch, numpy or MKL load: the module needs none."""
    code = ("import sys, robsens.core.reproducibility; "
            "print(sorted({'torch', 'numpy', 'scipy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
