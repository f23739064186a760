"""Portable CPU numerics: pin every math library's instruction-set dispatch before it loads.

With ``reproducibility: portable`` (the default in params.yaml) a job writes the same bytes on
any x86-64 machine with AVX2, whatever its widest vector unit: each library that picks its
kernels from the CPU at load time is told, through its own environment variable, to use the
AVX2 ones. ``reproducibility: native`` leaves the environment as it is (fastest kernels; the
numbers then depend on the machine). The pins, and what differed without each on an AVX-512
CPU against a simulated AVX2-only one (tests/test_portability.py simulates the machines):

- ``ATEN_CPU_CAPABILITY=avx2``: PyTorch's own kernels (elementwise, reductions, RNG fills).
  Without it the trained weights differ, all other pins in place (ATen's pre-AVX2 kernels,
  capability ``default``, synthesize other data too).
- ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN, which runs the convolutions. Without it the trained
  weights differ, the ATen pin in place.
- ``OPENBLAS_CORETYPE=Haswell``: the OpenBLAS inside numpy and scipy. Without it the linear
  study's fits differ (SkylakeX vs Haswell kernels).
- ``MKL_CBWR=COMPATIBLE,STRICT``: MKL (the GEMMs of the linear layers). MKL's AVX2 branch
  exists on Intel CPUs only: elsewhere MKL silently falls back to AUTO (MKL_VERBOSE shows
  ``CNR:AUTO`` for ``AVX2`` on an AMD CPU, and MKL ignores MKL_ENABLE_INSTRUCTIONS there, so
  this pin cannot be simulated on one machine). COMPATIBLE is the branch MKL documents as
  giving the same results on Intel and AMD CPUs.
- ``NPY_DISABLE_CPU_FEATURES``: numpy's AVX-512 dispatch targets the CPU has. Its float64
  exp, log, log1p, expm1, arctan and power round differently under them; no artifact of the
  tested stages differed, but any numpy code of a stage may use these.
- ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` = ``threads``: the core
  count must not decide how work is split. The torch stages fix their threads themselves
  and the linear study runs OpenBLAS on one thread, so no tested artifact differed without
  these; synthesis and the report would otherwise use every core.

Only x86-64 CPUs with AVX2 and FMA are pinned (elsewhere the pins would select kernels the
CPU lacks, or mean nothing: a warning says so on an x86-64 CPU without AVX2, other
architectures are left alone). The environment must be set before torch, numpy or MKL are
imported: ``robsens.__main__`` calls :func:`pin_from_argv` first thing, and this module
imports only the standard library and yaml (through :mod:`robsens.core.yamlio`). On
GPUs, see :func:`robsens.core.runtime.make_deterministic`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import MutableMapping, Sequence
from importlib import metadata
from pathlib import Path

import yaml

from robsens.core.yamlio import read_yaml

MODES = ("portable", "native")
DEFAULT_MODE = "portable"
_BEFORE_PIN: dict[str, str | None] = {}  # os.environ's values that pin() replaced

# numpy's AVX-512 dispatch targets as numpy >= 2.4 names them (after the x86-64 levels), each
# with the /proc/cpuinfo flag that says whether the CPU has it. numpy raises on a baseline
# feature and warns about a name it does not dispatch; a dispatched one the CPU lacks is a
# no-op. Older numpy names its targets otherwise: it is left alone (constraints.txt pins 2.4).
NUMPY_AVX512 = {"X86_V4": "avx512f", "AVX512_ICL": "avx512_vbmi2", "AVX512_SPR": "avx512_fp16"}


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags (Linux), or None when they cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def _numpy_features(flags: set[str] | None) -> list[str]:
    try:
        major, minor = (int(p) for p in metadata.version("numpy").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return []
    if (major, minor) < (2, 4):
        return []
    return [name for name, flag in NUMPY_AVX512.items() if flags is None or flag in flags]


def portable_env(threads: int, flags: set[str] | None = None) -> dict[str, str]:
    """The variables portable mode sets (``flags``: the CPU's, read when not given)."""
    flags = _cpu_flags() if flags is None else flags
    env = {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "COMPATIBLE,STRICT",
        "OPENBLAS_CORETYPE": "Haswell",
        **{var: str(threads) for var in
           ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }
    numpy_features = _numpy_features(flags)
    if numpy_features:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(numpy_features)
    return env


def params_file(argv: Sequence[str]) -> Path:
    """The ``--params`` argument as the CLI will read it (default ``params.yaml``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--params", default="params.yaml")
    try:
        known, _ = parser.parse_known_args(list(argv))
    except SystemExit:  # e.g. --params without a value: the CLI reports it
        return Path("params.yaml")
    return Path(known.params)


def read_settings(path: Path) -> tuple[str, int] | None:
    """``(reproducibility, threads)`` from a params file; None when it cannot say."""
    try:
        params = read_yaml(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(params, dict):
        return None
    mode, threads = params.get("reproducibility", DEFAULT_MODE), params.get("threads")
    if mode not in MODES or not isinstance(threads, int) or isinstance(threads, bool) \
            or threads < 1:
        return None  # invalid params: load_params names the key
    return mode, threads


def pin(mode: str, threads: int, environ: MutableMapping[str, str] | None = None
        ) -> dict[str, str]:
    """Set the portable pins in ``environ`` (default ``os.environ``); return what was set."""
    environ = os.environ if environ is None else environ
    if mode != "portable" or platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    flags = _cpu_flags()
    if flags is not None and not {"avx2", "fma"} <= flags:
        print("warning: reproducibility: portable needs a CPU with AVX2 and FMA; this one "
              "lacks them, so the outputs may differ from other machines'", file=sys.stderr)
        return {}
    env = portable_env(threads, flags)
    if environ is os.environ:
        for key in (*env, "NPY_ENABLE_CPU_FEATURES"):
            _BEFORE_PIN.setdefault(key, environ.get(key))
    environ.pop("NPY_ENABLE_CPU_FEATURES", None)  # numpy refuses to import with both set
    environ.update(env)
    return env


def unpinned_environ() -> dict[str, str]:
    """This process's environment as it was before :func:`pin` (what native mode keeps)."""
    environ = dict(os.environ)
    for key, value in _BEFORE_PIN.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


def pin_from_argv(argv: Sequence[str] | None = None) -> dict[str, str]:
    """Read the job's params file and pin; a missing or invalid file pins nothing."""
    argv = sys.argv[1:] if argv is None else argv
    settings = read_settings(params_file(argv))
    return pin(*settings) if settings else {}
