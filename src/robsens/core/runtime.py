"""Device choice and determinism, set once per job before any tensor work."""

from __future__ import annotations

import os

import torch

from robsens.core.errors import UserError


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cuda`` without a GPU is an error (params
    validation calls this too, so the run is refused before any job starts)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        why = ("this torch is built without CUDA" if torch.version.cuda is None else
               f"torch (CUDA {torch.version.cuda}) finds no GPU on this machine")
        raise UserError(f"params: device is 'cuda' but {why}; set device: auto (CUDA when "
                        "available, else CPU) or device: cpu, or run on a machine with a GPU")
    return torch.device(device)


def make_deterministic(seed: int, threads: int) -> None:
    """Same params + seed + device -> same numbers (CPU bit-exact; CUDA deterministic kernels).

    On CPU, the kernels themselves are chosen before torch loads: with ``reproducibility:
    portable`` (:mod:`robsens.core.reproducibility`) the bytes are then the same on every
    x86-64 machine with AVX2; ``threads`` fixes how reductions are split.

    On CUDA only these settings apply (the portable pins are CPU-only): the seed (it seeds
    every GPU too), ``torch.use_deterministic_algorithms`` (deterministic cuDNN / cuBLAS /
    scatter kernels; an op without one warns rather than fails), ``CUBLAS_WORKSPACE_CONFIG``
    (which cuBLAS needs for that) and ``cudnn.benchmark = False`` (no timing-based algorithm
    choice). That makes a rerun on the same GPU model, driver, CUDA and cuDNN give the same
    numbers; another GPU model may differ, since cuBLAS and cuDNN pick kernels (and TF32 use
    for convolutions) per architecture and SM count.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """A fresh RNG per (seed, epoch): resuming at an epoch boundary replays it exactly."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)
