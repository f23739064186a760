"""Device choice and determinism, set once per job before any tensor work.

**One GPU per job.** A stage that may run on CUDA declares ``gpu: 1`` (its Snakemake
resource), and ``snakemake --resources gpu=N`` runs at most N of them at once. Snakemake's
local executor does not say *which* GPU a job should use, so a job picks one itself before
CUDA starts (:func:`claim_gpu`):

- ``CUDA_VISIBLE_DEVICES`` already set (Slurm sets it for a job submitted with ``--gres`` or
  ``--gpus``; a user may set it by hand): the job uses what it was given and claims nothing.
- Otherwise, with ``n`` GPUs on the machine, the job takes an exclusive ``flock`` on the first
  free one of ``slot-0.lock`` ... ``slot-<n-1>.lock`` in :data:`LOCK_DIR_ENV` (default
  ``<tmp>/robsens-gpu-slots``), keeps it for its whole life and sets ``CUDA_VISIBLE_DEVICES``
  to that slot, so ``cuda`` means that GPU and only that one. When all are held it waits for
  one: never two robsens jobs on one GPU, even with N larger than the GPU count or two
  Snakemake runs side by side. The kernel drops the lock when the process ends, however it
  ends (a ``kill -9`` included): no stale claims.

The device string stays ``cuda`` whichever GPU the slot is (it is part of a training run's
identity, so a resumed run finds its checkpoint on any slot).
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from robsens.core.errors import UserError

LOCK_DIR_ENV = "ROBSENS_GPU_LOCK_DIR"  # where the slot locks live (one directory per machine)
_claimed: list[int] = []  # the open, locked slot file of this process (held until it exits)


def claim_gpu_slot(count: int, lock_dir: Path, poll_s: float = 1.0) -> int:
    """Hold an exclusive lock on one of ``count`` slot files in ``lock_dir``; return its index.

    Waits while every slot is held. The lock lives as long as this process (or until
    :func:`release_gpu_slot`): the open file is kept, not closed.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    if lock_dir.stat().st_uid == os.getuid():
        os.chmod(lock_dir, 0o1777)  # one directory per machine, shared by every user's jobs
    announced = False
    while True:
        for slot in range(count):
            # Read-only is enough for flock, so a slot file another user made works too.
            fd = os.open(lock_dir / f"slot-{slot}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _claimed.append(fd)
            return slot
        if not announced:
            announced = True
            print(f"waiting for a free GPU: all {count} are held by other robsens jobs "
                  f"(locks in {lock_dir})", file=sys.stderr, flush=True)
        time.sleep(poll_s)


def release_gpu_slot() -> None:
    """Give back the slot this process holds (a process that ends gives it back anyway)."""
    while _claimed:
        os.close(_claimed.pop())


def claim_gpu() -> None:
    """Make CUDA show this job one GPU of its own (see the module docstring); a no-op
    without GPUs, when ``CUDA_VISIBLE_DEVICES`` is set, or when a slot is already held.

    Must run before CUDA initialises: ``torch.cuda.device_count`` counts through NVML, which
    leaves ``CUDA_VISIBLE_DEVICES`` free to be set afterwards.
    """
    if _claimed or "CUDA_VISIBLE_DEVICES" in os.environ:
        return
    count = torch.cuda.device_count()
    if count == 0:
        return
    lock_dir = Path(os.environ.get(LOCK_DIR_ENV) or
                    Path(tempfile.gettempdir()) / "robsens-gpu-slots")
    slot = claim_gpu_slot(count, lock_dir)
    os.environ["CUDA_VISIBLE_DEVICES"] = str(slot)
    print(f"GPU slot {slot} of {count} (CUDA_VISIBLE_DEVICES={slot})", flush=True)


def resolve_device(device: str) -> torch.device:
    """The job's device: a CUDA job first claims its GPU (:func:`claim_gpu`), then
    :func:`check_device`."""
    if device != "cpu":
        claim_gpu()
    return check_device(device)


def check_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cuda`` without a GPU is an error (params
    validation calls this too, claiming nothing, so the run is refused before any job)."""
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
    # The kernel switch behind torch.use_deterministic_algorithms(True, warn_only=True). The
    # public function also sets Inductor's deterministic flag, and importing Inductor's config
    # (dynamo, sympy) costs about 1 s in every job; robsens never compiles a model, so that
    # flag governs nothing here (tests/test_startup.py checks the switches and the import).
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """A fresh RNG per (seed, epoch): resuming at an epoch boundary replays it exactly."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)
