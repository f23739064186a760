"""Speed cost of ``reproducibility: portable``: ERM and FCL training steps, portable vs native.

The pins must be in place before torch loads, so each mode runs in its own worker process
(``python -c``, its environment pinned or not), which times training steps on CPU and prints
one JSON line. Workers alternate between the modes, round-robin, so machine drift hits both
alike; the portable/native ratio is what transfers across machines.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from robsens.core import reproducibility

ROUNDS = 4  # workers per mode, alternating
WARMUP, STEPS = 3, 20  # steps per model and worker (round-robin between the models)
ROLES = ("baseline", "fcl")  # ERM and FCL, found by their roles
WORKER = "from robsens.bench.repro import worker; worker()"


def worker() -> None:
    """In a worker process: time the steps of each method, print them as one JSON line."""
    import torch

    from robsens.bench.methods import make_step, random_batch, round_robin
    from robsens.core.runtime import make_deterministic

    params = json.load(sys.stdin)
    make_deterministic(0, params["threads"])
    x, y = random_batch(params, "cpu")
    steps = {role: make_step(params, name, x, y) for role, name in _models(params).items()}
    times = round_robin(steps, WARMUP, STEPS)
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "times": times}))


def _models(params: dict) -> dict[str, str]:
    """The first model of each timed role."""
    from robsens.methods import model_roles

    roles = model_roles(params)
    return {role: next(m for m, r in roles.items() if r.role == role)
            for role in ROLES if any(r.role == role for r in roles.values())}


def _environ(mode: str, threads: int) -> dict[str, str]:
    environ = reproducibility.unpinned_environ()
    if mode == "portable":
        reproducibility.pin("portable", threads, environ)
    return environ


def run(params: dict) -> None:
    missing = [role for role in ROLES if role not in _models(params)]
    if missing:
        print(f"no model with role {', '.join(missing)} in params.yaml: nothing to time")
        return
    threads = params["threads"]
    times: dict[str, dict[str, list[float]]] = {mode: {m: [] for m in ROLES}
                                               for mode in ("portable", "native")}
    capability = {}
    tic = time.perf_counter()
    for r in range(ROUNDS):
        for mode in (("portable", "native") if r % 2 == 0 else ("native", "portable")):
            proc = subprocess.run([sys.executable, "-c", WORKER], input=json.dumps(params),
                                  env=_environ(mode, threads), capture_output=True, text=True,
                                  check=True, cwd=os.getcwd())
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            capability[mode] = out["capability"]
            for m in ROLES:
                times[mode][m] += out["times"][m]
    median = {mode: {m: statistics.median(t) for m, t in per.items()}
              for mode, per in times.items()}
    pins = reproducibility.portable_env(threads)
    print(f"CPU, threads {threads}, batch {params['train']['batch_size']}, median of "
          f"{ROUNDS * STEPS} steps per method and mode ({ROUNDS} alternating workers per mode, "
          f"{time.perf_counter() - tic:.0f} s)")
    print("portable pins: " + " ".join(f"{k}={v}" for k, v in pins.items()))
    print(f"ATen capability: portable {capability['portable']}, native {capability['native']}")
    models = _models(params)
    print(f"{'model (role)':<20}{'portable ms':>13}{'native ms':>11}{'portable/native':>17}")
    for m in ROLES:
        p, n = median["portable"][m], median["native"][m]
        print(f"{f'{models[m]} ({m})':<20}{p * 1e3:13.2f}{n * 1e3:11.2f}{p / n:17.2f}")
