"""Methods by role: every method declares one, and the study's models map to them from params."""

from __future__ import annotations

import ast
import math

import pytest
import yaml

from robsens.methods import METHODS, ROLES, Method, model_roles, register
from robsens.methods.erm import ERM
from robsens.methods.noise_aug import NoiseAug

from .conftest import ROOT


def declared_roles() -> dict[str, str]:
    """Method name -> ROLE read from the source of src/robsens/methods/ (the ``@register``
    decorators and the ``ROLE`` assignments, inherited through base classes in the package):
    what the files declare, independent of the registry that imports them."""
    classes: dict[str, tuple[str | None, str | None, list[str]]] = {}  # class: name, ROLE, bases
    for path in sorted((ROOT / "src/robsens/methods").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            name = next((d.args[0].value for d in node.decorator_list
                         if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "register"),
                        None)
            role = next((a.value.value for a in node.body if isinstance(a, ast.Assign)
                         and any(getattr(t, "id", "") == "ROLE" for t in a.targets)), None)
            classes[node.name] = (name, role, [getattr(b, "id", "") for b in node.bases])

    def role_of(cls: str) -> str | None:
        _, role, bases = classes[cls]
        return role or next((role_of(b) for b in bases if b in classes), None)

    return {name: role_of(cls) for cls, (name, _, _) in classes.items() if name}


def test_every_method_has_a_documented_role() -> None:
    declared = declared_roles()
    assert {"erm", "noise_aug", "adv_linf", "adv_l2", "fcl", "fcl_random"} <= set(declared)
    assert {name: cls.ROLE for name, cls in METHODS.items()} == declared
    assert set(declared.values()) <= set(ROLES)
    # the claims need these parts of the study (docs/science.md sections 4, 7 and 9)
    assert {"baseline", "noise_curve", "adversarial_curve", "fcl", "ablation",
            "positive_control", "spurious_control"} <= set(ROLES)


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
