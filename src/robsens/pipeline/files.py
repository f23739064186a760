"""Files the pipeline's machinery writes for itself (never a stage's output)."""

from __future__ import annotations

import os
from pathlib import Path

from robsens.core.io import save_text


def save_text_if_changed(path: str | Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it, so that an unchanged file
    keeps its mtime (which Snakemake reads); whether it wrote."""
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    save_text(path, text)
    return True


def user_cache(name: str) -> Path:
    """``~/.cache/robsens/<name>`` (or under ``$XDG_CACHE_HOME``): records keyed by their
    content, which only save work and can be deleted at any time."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "robsens" / name
