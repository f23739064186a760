"""The real IDX reader and checksum logic, on the shared MNIST test split and tiny files."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from robsens.core.io import load_json
from robsens.data import mnist
from robsens.data.corner import synthesize
from robsens.pipeline.params import load_params

from .conftest import ROOT, tiny_params

SHARED = ROOT.parent / "shared" / "datasets" / "mnist"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared MNIST test split absent")


def write_idx(path: Path, array: np.ndarray, code: int) -> None:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}i",
                                                                       *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize(("dtype", "code"), [(np.uint8, 0x08), (np.int32, 0x0C),
                                             (np.float32, 0x0D)])
def test_idx_round_trip(tmp_path: Path, dtype, code: int) -> None:
    array = (np.arange(2 * 3 * 4) * 7 % 251).astype(dtype).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        write_idx(tmp_path / name, array, code)
        np.testing.assert_array_equal(mnist.read_idx(tmp_path / name), array)


def test_idx_rejects_bad_magic_and_truncation(tmp_path: Path) -> None:
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad magic"):
        mnist.read_idx(tmp_path / "bad.idx")
    write_idx(tmp_path / "t.idx", np.zeros((5, 2), np.uint8), 0x08)
    (tmp_path / "t.idx").write_bytes((tmp_path / "t.idx").read_bytes()[:-3])
    with pytest.raises(ValueError, match="header says"):
        mnist.read_idx(tmp_path / "t.idx")


@needs_shared
def test_reads_real_mnist_test_split() -> None:
    cfg = load_params(ROOT / "params.yaml")["data"]["mnist"] | {"local_dir": str(SHARED)}
    images, labels = mnist.load_split("test", cfg)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                                            1009]
    assert images.max() == 255 and 0.10 < images.mean() / 255 < 0.16


@needs_shared
def test_checksum_mismatch_is_caught(tmp_path: Path) -> None:
    cfg = load_params(ROOT / "params.yaml")["data"]["mnist"]
    name = cfg["files"]["test_labels"]["name"]
    shutil.copy(SHARED / name, tmp_path / name)
    mnist.verify_md5(tmp_path / name, cfg["files"]["test_labels"]["md5"])
    with open(tmp_path / name, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01")
    with pytest.raises(mnist.MnistUnavailable, match="does not match"):
        mnist.fetch_file("test_labels", cfg | {"local_dir": str(tmp_path)})


def test_offline_download_fails_with_instructions(tmp_path: Path) -> None:
    cfg = load_params(ROOT / "params.yaml")["data"]["mnist"] | {
        "cache_dir": str(tmp_path / "cache"), "mirrors": ["http://127.0.0.1:9/mnist/"]}
    with pytest.raises(mnist.MnistUnavailable, match="local_dir"):
        mnist.fetch_file("test_images", cfg)
    assert not any((tmp_path / "cache").glob("*")), "a failed download left a file behind"


@needs_shared
def test_synthesize_from_real_digits(tmp_path: Path) -> None:
    data = tiny_params()["data"]
    data.update(source="mnist")
    data["mnist"].update(local_dir=str(SHARED), test_split_only=True)
    manifest = synthesize(data, tmp_path)
    assert manifest["source"] == "mnist"
    assert load_json(tmp_path / "manifest.json")["splits"]["train"]["n"] == data["n_train"]
