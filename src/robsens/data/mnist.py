"""Real MNIST: mirror download, MD5 verification, atomic caching and an IDX reader.

The four official gzip files are fetched from the first mirror that answers, checked
against the MD5 sums in params.yaml, and renamed into the cache only once verified, so
a broken download never poses as a cached file.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from robsens.core.errors import UserError
from robsens.core.io import atomic_path, file_md5

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class MnistUnavailable(UserError):
    """MNIST could not be had; the message says how to point the params at local files."""


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (gzip or raw): magic 0x0000TTDD, D big-endian int32 dims, data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise ValueError(f"{path}: IDX body has {len(body)} bytes, header says {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def verify_md5(path: Path, md5: str, fix: str = "") -> None:
    """Refuse a file whose MD5 is not the official one; ``fix`` says what to do about it."""
    actual = file_md5(path)
    if actual != md5:
        raise MnistUnavailable(f"{path}: MD5 {actual} does not match the expected {md5}{fix}")


def _reason(exc: Exception) -> str:
    """Why one mirror failed, in a few words (a URLError wraps the socket error)."""
    return str(getattr(exc, "reason", None) or exc)


def _download(name: str, md5: str, mirrors: list[str], target: Path) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            with atomic_path(target) as tmp:
                with urllib.request.urlopen(url, timeout=30) as resp, open(tmp, "wb") as out:
                    shutil.copyfileobj(resp, out)
                verify_md5(tmp, md5)
            return
        except (urllib.error.URLError, OSError, ValueError, MnistUnavailable) as exc:
            failures.append(f"{url}: {_reason(exc)}")
    raise MnistUnavailable(
        f"data.source is mnist but no mirror in data.mnist.mirrors served {name} "
        f"({'; '.join(failures)}); offline? set data.mnist.local_dir to a folder holding the "
        "official .gz files (with data.mnist.test_split_only: true if it holds only the t10k "
        "test files), or set data.source: synthetic"
    )


def fetch_file(key: str, mnist_cfg: dict) -> Path:
    """Path of one verified file: from ``local_dir`` if set, else the cache or a mirror."""
    spec = mnist_cfg["files"][key]
    if mnist_cfg["local_dir"]:
        path = Path(mnist_cfg["local_dir"]) / spec["name"]
        if not path.is_file():
            only_test = ("" if mnist_cfg["test_split_only"] or key.startswith("test") else
                         ", or set data.mnist.test_split_only: true to build every split from "
                         "the test files")
            raise MnistUnavailable(
                f"data.mnist.local_dir: {path} does not exist; put the official "
                f"{spec['name']} there{only_test}, or set data.source: synthetic")
        verify_md5(path, spec["md5"], f" (data.mnist.files.{key}.md5): the file in "
                   "data.mnist.local_dir is damaged or not the official one; replace it")
        return path
    path = Path(mnist_cfg["cache_dir"]) / spec["name"]
    if path.is_file():
        verify_md5(path, spec["md5"], f" (data.mnist.files.{key}.md5): the cached copy is "
                   "damaged; delete it to download it again")
        return path
    _download(spec["name"], spec["md5"], list(mnist_cfg["mirrors"]), path)
    return path


def load_split(split: str, mnist_cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (n, 28, 28), int64 labels) of ``train`` or ``test``."""
    images = read_idx(fetch_file(f"{split}_images", mnist_cfg))
    labels = read_idx(fetch_file(f"{split}_labels", mnist_cfg)).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels
