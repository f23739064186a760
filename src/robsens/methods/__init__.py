"""The method registry: one training objective per file, one interface.

A method turns a batch into a loss. ``METHODS`` is an explicit dict filled by the
:func:`register` decorator; importing this package imports every module in it (found
automatically), so adding a method is one new file here (a decorated class with an
``HPARAMS`` JSON schema and a ``ROLE``) plus one entry under ``models:`` in params.yaml.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

import torch
from torch import nn

from robsens.blocks.model import CornerNet


class Method:
    """Base class: holds the model and hyperparameters; subclasses implement :meth:`loss`."""

    HPARAMS: ClassVar[dict[str, Any]] = {}  # JSON schema of the method's params entry

    def __init__(self, model: CornerNet, hparams: dict[str, Any]) -> None:
        self.model = model
        self.hparams = hparams

    def extra_modules(self) -> nn.Module | None:
        """Trainable parts beyond the classifier (e.g. a projection head), or None."""
        return None

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on one batch and scalar statistics for logging."""
        raise NotImplementedError


METHODS: dict[str, type[Method]] = {}


def register(name: str):
    """Class decorator adding a method to :data:`METHODS` under ``name``."""

    def decorator(cls: type[Method]) -> type[Method]:
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        METHODS[name] = cls
        return cls

    return decorator


def _discover() -> None:
    """Import every module of this package: their ``@register`` decorators fill METHODS."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_discover()
