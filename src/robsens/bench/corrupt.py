"""Time the corruption suite: every corruption x severity on the default test split.

Budget (issue): ``data.n_test`` images (4000 by default), all corruptions and severities,
under 60 s on a 2-core CPU. ``python -m robsens bench corrupt`` prints the total and each
corruption's share (uses the synthesized test split when present, else renders digits).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from robsens.core.runtime import make_deterministic
from robsens.data.corner import load_split
from robsens.data.synthetic import synthetic_pool
from robsens.pipeline import paths
from robsens.robustness.corruptions import CORRUPTIONS
from robsens.robustness.corruptions.sets import corrupt_all_severities, from_uint8

BUDGET_S = 60.0


def time_suite(x: torch.Tensor, names: Sequence[str], seed: int) -> dict[str, float]:
    """Wall seconds per corruption, all severities, uint8 conversion included."""
    seconds = {}
    for name in names:
        start = time.perf_counter()
        corrupt_all_severities(x, name, seed)
        seconds[name] = time.perf_counter() - start
    return seconds


def _test_images(params: dict) -> tuple[torch.Tensor, str]:
    if (paths.DATA_DIR / "test.npz").exists():
        return load_split(paths.DATA_DIR, "test")["x"], str(paths.DATA_DIR / "test.npz")
    data = params["data"]
    images, _ = synthetic_pool(data["n_test"], data["synthetic"], data["seed"])
    return from_uint8(images, "cpu"), "procedural digits (no test split yet)"


def run(params: dict) -> None:
    make_deterministic(0, params["threads"])
    x, origin = _test_images(params)
    seconds = time_suite(x, list(CORRUPTIONS), params["robustness"]["seed"])
    total = sum(seconds.values())
    print(f"{len(x)} images from {origin}, {torch.get_num_threads()} thread(s), severities 1-5")
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<15} {s:6.2f} s  {100 * s / total:5.1f} %")
    verdict = "within" if total <= BUDGET_S else "OVER"
    print(
        f"total {total:.1f} s for {len(seconds)} corruptions: {verdict} the {BUDGET_S:.0f} s budget"
    )
