"""Corner-digit composition: labels, regions, paired probe and determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robsens.blocks.regions import corner_slices, region_masks
from robsens.data.corner import build_splits, corner_label, synthesize

from .conftest import tiny_params


@pytest.fixture(scope="module")
def data_cfg() -> dict:
    return tiny_params()["data"]


@pytest.fixture(scope="module")
def splits(data_cfg: dict) -> dict:
    return build_splits(data_cfg)


def test_label_rule() -> None:
    centre = np.arange(10)
    assert corner_label(centre, np.zeros(10, bool)).tolist() == list(range(10))
    assert corner_label(centre, np.ones(10, bool)).tolist() == [10, 11, 12, 13, 14, 5, 6, 7, 8, 9]


def test_splits_follow_the_rule(splits: dict, data_cfg: dict) -> None:
    for name in ("train", "val", "test"):
        s = splits[name]
        assert len(s["y"]) == data_cfg[f"n_{name}"]
        np.testing.assert_array_equal(s["y"], corner_label(s["centre"], s["corner"]))
        assert s["corner"].sum() == round(len(s["y"]) * data_cfg["corner_fraction"])
        assert set(np.unique(s["y"])) == set(range(15))


def test_corner_digit_only_in_corner(splits: dict, data_cfg: dict) -> None:
    probe = splits["probe"]
    _, corner = region_masks(data_cfg["corner_size"], data_cfg["corner_position"])
    diff = probe["x_corner"].astype(int) - probe["x_plain"].astype(int)
    assert (diff >= 0).all(), "blending by maximum can only add ink"
    assert (diff[:, ~corner.numpy()] == 0).all()
    rows, cols = corner_slices(data_cfg["corner_size"], data_cfg["corner_position"])
    assert (diff[:, rows, cols].sum((1, 2)) > 0).mean() > 0.95


def test_probe_pairs(splits: dict) -> None:
    probe = splits["probe"]
    np.testing.assert_array_equal(probe["y_plain"], probe["centre"])
    np.testing.assert_array_equal(probe["y_corner"], np.where(probe["centre"] < 5,
                                                              probe["centre"] + 10,
                                                              probe["centre"]))


def test_synthesis_is_deterministic_per_seed(tmp_path: Path, data_cfg: dict) -> None:
    a = synthesize(data_cfg, tmp_path / "a")
    b = synthesize(data_cfg, tmp_path / "b")
    c = synthesize(data_cfg | {"seed": data_cfg["seed"] + 1}, tmp_path / "c")
    md5 = lambda m: [s["md5"] for s in m["splits"].values()]  # noqa: E731
    assert md5(a) == md5(b)
    assert md5(a) != md5(c)


def test_validation_probe_pairs_the_validation_centres(splits: dict, data_cfg: dict) -> None:
    """val_probe (evaluate.split: val) shows the validation split's own centre digits with
    and without a corner digit: nothing in it comes from the test side."""
    val, probe = splits["val"], splits["val_probe"]
    n = min(data_cfg["n_val"], data_cfg["n_probe"])
    assert len(probe["centre"]) == n
    np.testing.assert_array_equal(probe["centre"], val["centre"][:n])
    plain = ~val["corner"][:n]  # where val shows the centre digit alone, the probe's plain
    np.testing.assert_array_equal(probe["x_plain"][plain], val["x"][:n][plain])  # is it
    rows, cols = corner_slices(data_cfg["corner_size"], data_cfg["corner_position"])
    outside = np.ones((28, 28), dtype=bool)
    outside[rows, cols] = False
    np.testing.assert_array_equal(probe["x_corner"][:, outside], probe["x_plain"][:, outside])
    pasted = probe["x_corner"][:, rows, cols] != probe["x_plain"][:, rows, cols]
    assert pasted.any(axis=(1, 2)).mean() > 0.9
