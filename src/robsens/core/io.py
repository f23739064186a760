"""Atomic artifact writes: a killed job never leaves a half file that looks finished.

Every writer goes through :func:`atomic_path`: it yields a temporary sibling path,
and only a block that finishes without error renames it onto the target
(``os.replace`` is atomic on POSIX within one filesystem).

Readers and writers turn a missing or corrupt file, or an output the filesystem refuses,
into a one-line :class:`~robsens.core.errors.UserError` naming the path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and torch load only when a job saves or loads arrays (startup cost)
    import numpy as np
    import torch

from robsens.core.errors import reading, writing


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with writing(path):
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
            os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def save_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def load_json(path: str | Path) -> Any:
    with reading(path):
        return json.loads(Path(path).read_text())


def save_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Compressed ``.npz``; written through a file object so numpy keeps our name."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    import numpy as np

    with reading(path), np.load(path) as data:
        return {k: data[k] for k in data.files}


def save_torch(path: str | Path, obj: Any) -> None:
    """Through a file object: torch then names the archive's folder ``archive`` instead of
    after the (random) temporary file, so the same tensors give the same bytes."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def load_torch(path: str | Path, device: torch.device | str = "cpu") -> Any:
    """Tensors, numbers, strings and containers only (``weights_only``): never code."""
    import torch

    with reading(path):
        return torch.load(path, map_location=device, weights_only=True)


def save_figure(path: str | Path, fig: Any, **kwargs: Any) -> None:
    """Save a matplotlib figure atomically (format taken from the target suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs)


def file_md5(path: str | Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
