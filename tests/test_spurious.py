"""The spurious-background study: the cue agrees with the label at the configured rate in
training and at chance when independent; a model that reads only the cue is near chance on
the independent split and below it on the reversed one; RFS with equal-energy noise and
class-balanced accuracy against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from robsens.robustness.metrics import region_noise, rfs_curve
from robsens.spurious.data import (
    NUM_CLASSES,
    REVERSED_SHIFT,
    box_masks,
    build_splits,
    family_geometry,
)
from robsens.spurious.metrics import evaluate_spurious

from .conftest import tiny_params

CFG = {"seed": 3, "n_train": 4000, "n_val": 100, "n_test": 2000, "agreement": 0.8,
       "contrast": 0.6}


@pytest.fixture(scope="module")
def splits() -> dict[str, dict[str, np.ndarray]]:
    return build_splits(tiny_params()["data"], CFG)


def binomial_ok(hits: int, n: int, p: float) -> bool:
    """Within 4 binomial standard deviations of n p."""
    return abs(hits - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def test_the_cue_agrees_at_the_configured_rate_and_at_chance_when_independent(splits) -> None:
    train, independent = splits["train"], splits["test_independent"]
    assert binomial_ok(int((train["cue"] == train["y"]).sum()), len(train["y"]), 0.8)
    assert binomial_ok(int((independent["cue"] == independent["y"]).sum()),
                       len(independent["y"]), 1 / NUM_CLASSES)
    # independent of the label: every label sees every family at about the same rate
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES))
    np.add.at(counts, (independent["y"], independent["cue"]), 1)
    assert counts.min() > 0
    theta, period = family_geometry(np.arange(NUM_CLASSES))  # 10 distinct gratings; the
    assert len(set(zip(theta.round(6), period, strict=True))) == NUM_CLASSES  # reversed one
    flipped = (np.arange(NUM_CLASSES) + REVERSED_SHIFT) % NUM_CLASSES  # differs in both
    assert (theta != theta[flipped]).all() and (period != period[flipped]).all()
    reversed_ = splits["test_reversed"]
    assert np.array_equal(reversed_["cue"], (reversed_["y"] + REVERSED_SHIFT) % NUM_CLASSES)
    # a disagreeing training cue is another class's, never the label's
    wrong = train["cue"] != train["y"]
    assert len(np.unique(train["cue"][wrong])) == NUM_CLASSES


def test_the_test_splits_share_their_digits_and_the_cue_stays_outside_the_box(splits) -> None:
    inside = box_masks(splits["test"]["fg_box"])
    for name in ("test_independent", "test_reversed"):
        assert np.array_equal(splits[name]["y"], splits["test"]["y"])
        assert np.array_equal(splits[name]["x"][inside], splits["test"]["x"][inside])
    for split in splits.values():  # cue in the frame only, and the frame carries it
        frame = ~box_masks(split["fg_box"])
        assert split["x"][frame].reshape(len(split["y"]), -1).max(axis=1).min() > 0


class CueReader(nn.Module):
    """Reads only the frame: the energy of its projection on each family's grating (cosine and
    sine, so the random phase does not matter), the largest one wins."""

    def __init__(self) -> None:
        super().__init__()
        yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        frame = torch.from_numpy(~box_masks(np.array([[4, 4, 24, 24]]))[0]).float()
        templates = []
        for theta, period in zip(*family_geometry(np.arange(NUM_CLASSES)), strict=True):
            along = xx * math.cos(theta) + yy * math.sin(theta)
            angle = 2 * math.pi * along / period
            templates.append(torch.stack([torch.cos(angle), torch.sin(angle)]) * frame)
        self.register_buffer("templates", torch.stack(templates))  # (10, 2, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, 0] - x[:, 0].mean(dim=(1, 2), keepdim=True)
        proj = torch.einsum("nhw,kchw->nkc", x, self.templates)
        energy = proj.pow(2).sum(-1)
        return energy / self.templates[:, 0].pow(2).sum(dim=(1, 2))


def test_a_cue_reader_is_at_chance_when_independent_and_below_it_when_reversed(splits) -> None:
    loaded = {name: {k: (torch.from_numpy(v).float().div(255).unsqueeze(1) if k == "x"
                         else torch.from_numpy(v)) for k, v in splits[name].items()}
              for name in ("test", "test_independent", "test_reversed")}
    rfs = {"sigmas": [1.0], "draws": 1, "seed": 0, "noise": "equal_energy"}
    m = evaluate_spurious(CueReader(), loaded, rfs, batch_size=500)
    n = len(splits["test"]["y"])
    agree = float(np.mean(splits["test"]["cue"] == splits["test"]["y"]))
    assert m["spurious_accuracy"] == pytest.approx(agree, abs=0.01)  # it reads the cue
    assert binomial_ok(round(m["spurious_accuracy_independent"] * n), n, 1 / NUM_CLASSES)
    assert m["spurious_accuracy_reversed"] <= 0.01  # below chance: about 0
    assert m["spurious_cue_following"] >= 0.99
    assert m["spurious_cue_reliance"] == pytest.approx(agree, abs=0.02)
    assert np.mean(m["per_image"]["spurious_cue_reliance"]) == pytest.approx(
        m["spurious_cue_reliance"])
    assert m["spurious_mean_rfs"] < -0.3  # noise on the background hurts it more


# RFS by hand. Foreground: rows 0-24 (700 pixels); background: rows 25-27 (84 pixels). The
# background's mean tells the class (0.3: class 0, 0.7: class 1); the foreground is 0.5.
FG = torch.zeros(28, 28, dtype=torch.bool)
FG[:25] = True
BG = ~FG
T = 0.1  # energy threshold of the hand-built model


class EnergyModel(nn.Module):
    """Predicts 1 when the foreground carries deviation energy above T, else 0 when the
    background does, else the class its background's mean tells."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fg = (x[:, 0][:, FG] - 0.5).pow(2).sum(1)
        bg_pixels = x[:, 0][:, BG]
        bg = (bg_pixels - bg_pixels.mean(1, keepdim=True)).pow(2).sum(1)
        pred = torch.where(fg > T, 1, torch.where(bg > T, 0, (bg_pixels.mean(1) > 0.5).long()))
        return nn.functional.one_hot(pred, 2).float()


def test_equal_energy_noise_puts_the_same_energy_on_either_region() -> None:
    x = torch.full((3, 1, 28, 28), 0.5)
    for region in (FG, BG):  # 700 and 84 pixels: the same l_2 norm sigma sqrt(784) = 0.28
        out = region_noise(x, region, 0.01, seed=1, noise="equal_energy")
        assert not (out != x)[..., ~region].any()
        norms = (out - x).flatten(1).norm(dim=1)
        assert norms.tolist() == pytest.approx([0.28] * 3, rel=1e-5)


@pytest.mark.parametrize(("noise", "balanced", "fg_acc", "bg_acc", "rfs"), [
    # sigma 0.005: energy 0.0196 (equal energy) or 0.0175 / 0.0021 (per pixel) < T: all
    # correct, a = 1, RFS 0. sigma 0.02: equal energy 0.3136 > T on either region: foreground
    # noise -> all predict 1 (class 1 right: balanced (0 + 1) / 2, over images 3/4),
    # background noise -> all predict 0 (balanced 1/2, over images 1/4).
    ("equal_energy", True, [1.0, 0.5], [1.0, 0.5], [0.0, 0.0]),
    # over images: a = 1/2, RFS = (1/4 - 3/4) / (2 x 1/2) = -1/2
    ("equal_energy", False, [1.0, 0.75], [1.0, 0.25], [0.0, -0.5]),
    # per pixel at sigma 0.02: the foreground gets 700 x 0.0004 = 0.28 > T, the background
    # only 84 x 0.0004 = 0.034 < T, so background noise leaves every image right:
    # a = 3/4, RFS = (1 - 1/2) / (2 x 1/4) = 1
    ("per_pixel", True, [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]),
])
def test_rfs_matches_a_hand_computation(noise: str, balanced: bool, fg_acc: list[float],
                                        bg_acc: list[float], rfs: list[float]) -> None:
    y = torch.tensor([0, 1, 1, 1])
    x = torch.full((4, 1, 28, 28), 0.5)
    x[:, 0, 25:] = torch.where(y == 1, 0.7, 0.3).view(-1, 1, 1)
    curve = rfs_curve(EnergyModel(), x, y, (FG, BG), [0.005, 0.02], seed=0, batch_size=2,
                      noise=noise, draws=3, balanced=balanced).curve
    assert curve["fg_accuracy"] == pytest.approx(fg_acc)
    assert curve["bg_accuracy"] == pytest.approx(bg_acc)
    assert curve["rfs"] == pytest.approx(rfs)
