"""Methods by role: every method declares one, and the study's models map to them from params."""

from __future__ import annotations

import math

import pytest
import yaml

from robsens.methods import METHODS, ROLES, Method, model_roles, register
from robsens.methods.erm import ERM
from robsens.methods.noise_aug import NoiseAug

from .conftest import ROOT


def test_every_method_has_a_documented_role() -> None:
    assert {name: cls.ROLE for name, cls in METHODS.items()} == {
        "erm": "baseline", "noise_aug": "noise_curve", "adv_linf": "adversarial_curve",
        "adv_l2": "adversarial_curve", "fcl": "fcl", "fcl_random": "ablation"}
    assert set(ROLES) == {"baseline", "noise_curve", "adversarial_curve", "fcl", "ablation"}


def test_models_map_to_roles_and_curve_positions_from_params() -> None:
    roles = model_roles(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert roles["noise_0p6"] == ("noise_curve", "sigma", 0.6, None)
    assert roles["adv_l2"] == ("adversarial_curve", "eps", 1.0, "l2")
    assert roles["fcl_random"].role == "ablation" and math.isnan(roles["erm"].curve)
    # any name will do: the role comes from the method
    assert model_roles({"models": {"plain": {"method": "erm"}}})["plain"].role == "baseline"


def test_register_rejects_a_method_without_a_valid_role() -> None:
    class NoRole(Method):
        pass

    class Curve(NoiseAug):
        CURVE_PARAM = "not_an_hparam"

    with pytest.raises(ValueError, match="ROLE"):
        register("no_role")(NoRole)
    with pytest.raises(ValueError, match="ROLE 'hero'"):
        register("bad_role")(type("Bad", (ERM,), {"ROLE": "hero"}))
    with pytest.raises(ValueError, match="CURVE_PARAM"):
        register("bad_curve")(Curve)
    assert not {"no_role", "bad_role", "bad_curve"} & set(METHODS)
