"""Every corruption keeps shape, dtype and range, is reproducible per seed, and grows with
severity; the suite is the one the issue lists, each corruption in exactly one family."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from robsens.core.config import SCHEMA_PATH
from robsens.pipeline.docs import corruption_table
from robsens.robustness.corruptions import (
    CHUNK,
    CORRUPTIONS,
    FAMILIES,
    SEVERITIES,
    by_family,
    corrupt,
    corruption_seed,
)

MNIST_C = {
    "shot_noise",
    "impulse_noise",
    "glass_blur",
    "motion_blur",
    "shear",
    "scale",
    "rotate",
    "brightness",
    "translate",
    "stripe",
    "fog",
    "spatter",
    "dotted_line",
    "zigzag",
    "canny_edges",
}
IMAGENET_C = {"gaussian_noise", "speckle_noise", "gaussian_blur", "contrast", "pixelate", "jpeg"}
# Hendrycks & Dietterich's grouping where ImageNet-C has the kind; MNIST-C's affine warps are
# geometric, its drawn-on artefacts digital.
FAMILY_TABLE = {
    "noise": ["shot_noise", "impulse_noise", "gaussian_noise", "speckle_noise"],
    "blur": ["glass_blur", "motion_blur", "gaussian_blur"],
    "weather": ["brightness", "fog", "spatter"],
    "digital": ["stripe", "dotted_line", "zigzag", "canny_edges", "contrast", "pixelate", "jpeg"],
    "geometric": ["shear", "scale", "rotate", "translate"],
}
DETERMINISTIC = {
    "scale",
    "brightness",
    "stripe",
    "canny_edges",
    "gaussian_blur",
    "contrast",
    "pixelate",
    "jpeg",
}


def _digit_like(n: int) -> torch.Tensor:
    """Anti-aliased rings with a vertical stroke, varied in place, size and ink."""
    g = torch.Generator().manual_seed(0)
    grid = torch.arange(28.0)
    rows, cols = grid.view(1, 28, 1), grid.view(1, 1, 28)
    cy = 14 + torch.randint(-3, 4, (n, 1, 1), generator=g)
    cx = 14 + torch.randint(-3, 4, (n, 1, 1), generator=g)
    radius = 4 + 3 * torch.rand(n, 1, 1, generator=g)
    dist = ((rows - cy) ** 2 + (cols - cx) ** 2).sqrt()
    ring = (1.5 - (dist - radius).abs()).clamp(0, 1)
    stroke = (1.5 - (cols - cx - radius).abs()).clamp(0, 1) * ((rows - cy).abs() < 8)
    ink = 0.7 + 0.3 * torch.rand(n, 1, 1, generator=g)
    return (torch.maximum(ring, stroke) * ink).unsqueeze(1)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return _digit_like(12)


def test_the_suite_is_the_issues_list() -> None:
    assert set(CORRUPTIONS) == MNIST_C | IMAGENET_C
    assert all(len(spec.levels) == len(SEVERITIES) for spec in CORRUPTIONS.values())
    assert {name for name, spec in CORRUPTIONS.items() if spec.suite == "MNIST-C"} == MNIST_C
    assert {name for name, spec in CORRUPTIONS.items() if spec.suite == "ImageNet-C"} == IMAGENET_C


def test_every_corruption_is_in_exactly_one_family() -> None:
    assert all(spec.family in FAMILIES for spec in CORRUPTIONS.values())
    groups = by_family(CORRUPTIONS)
    assert list(groups) == list(FAMILIES)  # every family used, in the report's order
    grouped = [name for names in groups.values() for name in names]
    assert sorted(grouped) == sorted(CORRUPTIONS)  # each corruption once
    assert {family: sorted(names) for family, names in groups.items()} == {
        family: sorted(names) for family, names in FAMILY_TABLE.items()}


def test_by_family_keeps_the_given_order_and_drops_empty_families() -> None:
    groups = by_family(["rotate", "fog", "shot_noise", "brightness"])
    assert groups == {"noise": ["shot_noise"], "weather": ["fog", "brightness"],
                      "geometric": ["rotate"]}
    assert list(groups) == ["noise", "weather", "geometric"]
    with pytest.raises(KeyError):
        by_family(["frost"])


def test_parameter_docs_and_schema_name_the_same_suite() -> None:
    reference = (Path(__file__).resolve().parents[1] / "docs/parameters.md").read_text()
    assert corruption_table() in reference
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    allowed = schema["properties"]["robustness"]["properties"]["corruptions"]["items"]["enum"]
    assert allowed == list(CORRUPTIONS)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_shape_dtype_and_range(name: str, digits: torch.Tensor) -> None:
    x = torch.cat([digits, torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 28, 28)])
    for severity in SEVERITIES:
        out = corrupt(x, name, severity, seed=0)
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        assert torch.isfinite(out).all()
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_reproducible_per_seed(name: str, digits: torch.Tensor) -> None:
    first = corrupt(digits, name, 3, seed=7)
    assert torch.equal(first, corrupt(digits, name, 3, seed=7))
    other = corrupt(digits, name, 3, seed=8)
    assert torch.equal(first, other) == (name in DETERMINISTIC)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_5_changes_more_than_severity_1(name: str, digits: torch.Tensor) -> None:
    change = {s: (corrupt(digits, name, s, seed=0) - digits).abs().mean().item() for s in (1, 5)}
    assert change[1] > 0.0
    assert change[5] > change[1] * 1.2, change


def test_global_rng_left_alone(digits: torch.Tensor) -> None:
    state = torch.get_rng_state()
    for name in CORRUPTIONS:
        corrupt(digits, name, 2, seed=0)
    assert torch.equal(state, torch.get_rng_state())


def test_streams_are_independent_per_corruption_and_severity() -> None:
    seeds = {corruption_seed(0, name, s) for name in CORRUPTIONS for s in SEVERITIES}
    assert len(seeds) == len(CORRUPTIONS) * len(SEVERITIES)
    assert corruption_seed(0, "fog", 1) != corruption_seed(1, "fog", 1)


def test_rejects_unknown_corruption_and_severity(digits: torch.Tensor) -> None:
    with pytest.raises(KeyError, match="unknown corruption"):
        corrupt(digits, "frost", 1, seed=0)
    with pytest.raises(ValueError, match="severity"):
        corrupt(digits, "fog", 6, seed=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_runs_on_the_inputs_device(name: str, digits: torch.Tensor) -> None:
    out = corrupt(digits.cuda(), name, 5, seed=0)
    assert out.is_cuda and out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(out, corrupt(digits.cuda(), name, 5, seed=0))


def test_chunks_continue_one_random_stream() -> None:
    x = torch.full((CHUNK + 10, 1, 28, 28), 0.5)
    out = corrupt(x, "gaussian_noise", 4, seed=1)
    assert out.shape == x.shape and torch.equal(out, corrupt(x, "gaussian_noise", 4, seed=1))
    assert not torch.equal(out[:10], out[CHUNK:])  # the second block got fresh noise
