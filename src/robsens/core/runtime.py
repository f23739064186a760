"""Device choice and determinism, set once per job before any tensor work."""

from __future__ import annotations

import os

import torch


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("params: device is 'cuda' but no CUDA device is available")
    return torch.device(device)


def make_deterministic(seed: int, threads: int) -> None:
    """Same params + seed + device -> same numbers (CPU bit-exact; CUDA deterministic kernels)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """A fresh RNG per (seed, epoch): resuming at an epoch boundary replays it exactly."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)
