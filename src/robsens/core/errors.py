"""Expected failures: one exception type whose message is the line the user reads.

A failure the user can fix (an invalid param, ``device: cuda`` without a GPU, MNIST out of
reach, a missing or corrupt input file, an output that cannot be written) raises
:class:`UserError` where it happens, with one line naming the cause and the fix. The CLI's
single handler (:func:`robsens.cli.main`) prints ``error: <message>`` and exits 2, so no
traceback buries the cause; any other exception is a bug and keeps its traceback.

Standard library only: every job imports this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class UserError(Exception):
    """An expected failure; the message is one line naming the cause and the fix."""


class InputError(UserError):
    """An input file is missing or unreadable.

    The message names the file only: the CLI adds which stage makes it (it knows the stage
    table, which readers deep in the package should not import) and how to remake it.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"input {path} {problem}")


def _reason(exc: BaseException) -> str:
    """The first sentence of an exception's text: some readers explain at length, over
    several lines, and the user's line must stay one line."""
    text = str(exc).strip().split("\n")[0].split(". ")[0].rstrip(".")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unreadable() -> tuple[type[BaseException], ...]:
    """What a reader raises on a truncated or garbled file: json (ValueError), gzip (OSError,
    EOFError), numpy's npz (zipfile.BadZipFile, zlib.error, ValueError), torch (RuntimeError
    on a broken zip archive, pickle.UnpicklingError on other bytes), a record without an
    expected field (KeyError). Imported on a failure only: a job that reads fine never pays."""
    import pickle
    import zipfile
    import zlib

    return (OSError, EOFError, ValueError, RuntimeError, KeyError, pickle.UnpicklingError,
            zipfile.BadZipFile, zlib.error)


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Around a read of ``path``: a missing or garbled file becomes an :class:`InputError`;
    anything else (a bug) passes through with its traceback."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(path, "is missing") from None
    except (PermissionError, IsADirectoryError) as exc:
        raise InputError(path, f"cannot be read ({exc.strerror})") from None
    except UserError:
        raise
    except Exception as exc:
        if not isinstance(exc, _unreadable()):
            raise
        raise InputError(path, f"is corrupt or truncated ({_reason(exc)})") from None


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Around creating ``path`` (its folder, a temporary sibling, the final rename): a
    refusal by the filesystem becomes a :class:`UserError` naming the path."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or path
        if isinstance(exc, (FileExistsError, NotADirectoryError)):  # a file where a folder goes
            cause = f"{where} is in the way (a file where a directory must be)"
        else:
            cause = f"{exc.strerror or _reason(exc)}: {where}"
        raise UserError(f"cannot write {path}: {cause}; make that location a writable "
                        "directory (or free space there) and rerun") from None
