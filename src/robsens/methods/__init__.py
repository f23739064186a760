"""The method registry: one training objective per file, one interface.

A method turns a batch into a loss. ``METHODS`` is an explicit dict filled by the
:func:`register` decorator; importing this package imports every module in it (found
automatically), so adding a method is one new file here (a decorated class with an
``HPARAMS`` JSON schema and a ``ROLE``) plus one entry under ``models:`` in params.yaml.

Each method declares its part in the study as ``ROLE``, one of :data:`ROLES`. The report and
its claims read roles, never model or method names: :func:`model_roles` maps the study's
models to them. The two curve roles also name the hyperparameter their models are ordered by
(``CURVE_PARAM``); adversarial training names its attack norm (``NORM``).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from robsens.blocks.model import CornerNet

ROLES: dict[str, str] = {
    "baseline": "the reference every claim compares with (ERM)",
    "noise_curve": "robust training with one model per value of CURVE_PARAM, read as a curve "
                   "along it (Gaussian-noise augmentation, one model per sigma)",
    "adversarial_curve": "adversarial training under the attack norm NORM, read along "
                         "CURVE_PARAM (PGD l_inf and l_2, radius eps)",
    "fcl": "the method under study (FCL)",
    "ablation": "the method under study with its key ingredient removed (FCL-random)",
    "positive_control": "the method under study given the mechanism by construction (FCL "
                        "with an oracle H), to show the claim's instrument can move",
    "spurious_control": "a model built to rely on the background cue (trained only where it "
                        "agrees with the label), to show the spurious instruments can move",
}
CURVE_ROLES = ("noise_curve", "adversarial_curve")


class Method:
    """Base class: holds the model and hyperparameters; subclasses implement :meth:`loss`."""

    HPARAMS: ClassVar[dict[str, Any]] = {}  # JSON schema of the method's params entry
    ROLE: ClassVar[str]  # its part in the study: a key of ROLES
    CURVE_PARAM: ClassVar[str | None] = None  # curve roles: the hyperparameter along the curve
    NORM: ClassVar[str | None] = None  # adversarial_curve: the attack norm

    def __init__(self, model: CornerNet, hparams: dict[str, Any]) -> None:
        self.model = model
        self.hparams = hparams

    @classmethod
    def resolve(cls, hparams: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """The hyperparameters the method trains with: ``hparams`` with any value that
        refers to another params section filled in from it (none here; FCL's views can
        take the evaluation's perturbation)."""
        return dict(hparams)

    def extra_modules(self) -> nn.Module | None:
        """Trainable parts beyond the classifier (e.g. a projection head), or None."""
        return None

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on one batch and scalar statistics for logging."""
        raise NotImplementedError

    @classmethod
    def training_examples(cls, split: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        """The indices of the training split this method learns from; None: all of them.
        A control that must see a different distribution (the cue control) narrows it."""
        return None

    def diagnostics(self, x: torch.Tensor, y: torch.Tensor, epoch: int,
                    generator: torch.Generator) -> dict[str, float]:
        """Once per epoch, on a fixed batch and its own generator: statistics that cost more
        than a training step can afford (FCL: its term's share of the gradient). The record
        that shows a method engaged; none by default."""
        return {}


METHODS: dict[str, type[Method]] = {}


def _check_role(name: str, cls: type[Method]) -> None:
    role = getattr(cls, "ROLE", None)
    if role not in ROLES:
        raise ValueError(f"method {name!r}: ROLE {role!r} is not one of {', '.join(ROLES)}")
    if role in CURVE_ROLES and cls.CURVE_PARAM not in cls.HPARAMS.get("required", ()):
        raise ValueError(f"method {name!r}: a {role} method needs a CURVE_PARAM among its "
                         "required HPARAMS")
    if role == "adversarial_curve" and not cls.NORM:
        raise ValueError(f"method {name!r}: an adversarial_curve method needs a NORM")


def register(name: str):
    """Class decorator adding a method to :data:`METHODS` under ``name``."""

    def decorator(cls: type[Method]) -> type[Method]:
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        _check_role(name, cls)
        METHODS[name] = cls
        return cls

    return decorator


def build_method(model: CornerNet, params: Mapping[str, Any], name: str) -> Method:
    """The method of ``params["models"][name]`` on ``model``, its hyperparameters resolved
    (:meth:`Method.resolve`): the one way training and the benchmarks make a method."""
    cls = METHODS[params["models"][name]["method"]]
    return cls(model, cls.resolve(params["models"][name], params))


class ModelRole(NamedTuple):
    """A study model's part in the claims, from its method."""

    role: str  # a key of ROLES
    curve_param: str | None  # curve roles: the hyperparameter the curve is read along
    curve: float  # the model's value of ``curve_param``; NaN for the other roles
    norm: str | None  # adversarial_curve: the attack norm


def model_roles(params: Mapping[str, Any]) -> dict[str, ModelRole]:
    """Every model of ``params["models"]``, in order, with the role of its method."""
    out = {}
    for name, entry in params["models"].items():
        cls = METHODS[entry["method"]]
        curve = float(entry[cls.CURVE_PARAM]) if cls.CURVE_PARAM else math.nan
        out[name] = ModelRole(cls.ROLE, cls.CURVE_PARAM, curve, cls.NORM)
    return out


def _discover() -> None:
    """Import every module of this package: their ``@register`` decorators fill METHODS."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_discover()
