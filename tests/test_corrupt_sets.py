"""The corrupted-set artifacts: same seed, same bytes; one file per corruption; a manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robsens.core.io import file_md5, load_json, load_npz
from robsens.robustness.corruptions import CORRUPTIONS, SEVERITIES
from robsens.robustness.corruptions.sets import (
    from_uint8,
    subset_index,
    to_uint8,
    write_corrupted_sets,
)

SOURCE = {"file": "test.npz", "md5": "0" * 32}


def _split(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 1, 28, 28, generator=g) > 0.8).float()
    return x, torch.randint(0, 15, (n,), generator=g)


def _write(out: Path, names: list[str], seed: int = 0) -> dict:
    x, y = _split()
    return write_corrupted_sets(x, y, names, seed, out, SOURCE)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    names = list(CORRUPTIONS)
    _write(tmp_path / "a", names)
    _write(tmp_path / "b", names)
    for name in [*names, "manifest"]:
        suffix = "json" if name == "manifest" else "npz"
        a, b = tmp_path / "a" / f"{name}.{suffix}", tmp_path / "b" / f"{name}.{suffix}"
        assert file_md5(a) == file_md5(b), name


def test_another_seed_gives_other_images(tmp_path: Path) -> None:
    _write(tmp_path / "a", ["gaussian_noise"], seed=0)
    _write(tmp_path / "b", ["gaussian_noise"], seed=1)
    a = load_npz(tmp_path / "a" / "gaussian_noise.npz")["x"]
    assert not np.array_equal(a, load_npz(tmp_path / "b" / "gaussian_noise.npz")["x"])


def test_a_set_does_not_depend_on_which_others_run(tmp_path: Path) -> None:
    _write(tmp_path / "one", ["fog"])
    _write(tmp_path / "two", ["zigzag", "fog"])
    assert file_md5(tmp_path / "one" / "fog.npz") == file_md5(tmp_path / "two" / "fog.npz")


def test_layout_and_manifest(tmp_path: Path) -> None:
    y = _split()[1]
    manifest = _write(tmp_path, ["rotate", "jpeg"])
    assert manifest == load_json(tmp_path / "manifest.json")
    assert manifest["source"] == SOURCE and manifest["n"] == len(y)
    assert set(manifest["corruptions"]) == {"rotate", "jpeg"}
    entry = manifest["corruptions"]["rotate"]
    assert entry["md5"] == file_md5(tmp_path / entry["file"])
    assert entry["levels"] == list(CORRUPTIONS["rotate"].levels)
    arrays = load_npz(tmp_path / "rotate.npz")
    assert arrays["x"].shape == (len(SEVERITIES), len(y), 28, 28)
    assert arrays["x"].dtype == np.uint8
    assert np.array_equal(arrays["y"], y.numpy())
    assert arrays["severities"].tolist() == list(SEVERITIES)


def test_uint8_round_trip() -> None:
    x = torch.tensor([0.0, 0.5, 1.0, 0.2]).view(1, 1, 2, 2)
    images = to_uint8(x)
    assert images.dtype == torch.uint8 and images.tolist() == [[[0, 128], [255, 51]]]
    assert torch.allclose(from_uint8(images, "cpu"), x, atol=1 / 510)


def test_subset_index_is_seeded_sorted_and_complete_when_asked() -> None:
    first = subset_index(100, 10, seed=3)
    assert torch.equal(first, subset_index(100, 10, seed=3))
    assert not torch.equal(first, subset_index(100, 10, seed=4))
    assert len(first.unique()) == 10 and torch.equal(first, first.sort().values)
    assert torch.equal(subset_index(5, None, seed=0), torch.arange(5))
    assert torch.equal(subset_index(5, 50, seed=0), torch.arange(5))
