"""Load and validate ``params.yaml``, the single source of truth for every stage.

Validation happens before any job runs (the CLI and the Snakefile both call
:func:`load_params`), and a bad value yields one :class:`ParamsError` naming the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from robsens.core.errors import UserError
from robsens.core.yamlio import read_yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "params.schema.yaml"  # ships with the package
NUM_CLASSES = 15
RARE_CLASSES = (10, 11, 12, 13, 14)


class ParamsError(UserError, ValueError):
    """An invalid params file; the message names the offending key."""


@cache
def _schema() -> dict:
    return read_yaml(SCHEMA_PATH.read_text())


@cache
def _validator() -> jsonschema.Validator:
    """The params schema, compiled once per process."""
    return jsonschema.Draft202012Validator(_schema())


def _checked_dir() -> Path:
    """Where :func:`validate_params` records the hyperparameter sets it has accepted."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "robsens" / "valid-hparams"


def _registry_key(checked: Mapping[str, Any]) -> str:
    """What the registry check covers (the ``models`` section and the claims' endpoints) with
    the source of the method registry and the validator (every module they import): the same
    key can only be accepted again."""
    # Validation only: no stage's code dependency (see validate_params).
    from robsens.pipeline.deps import source_digest  # robsens: not-a-dependency

    blob = json.dumps(checked, sort_keys=True, default=str).encode()
    digest = source_digest("robsens.core.config", "robsens.methods")
    return hashlib.sha256(blob + digest.encode()).hexdigest()


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _first_error(validator: jsonschema.Validator, instance: Any, prefix: str) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        path, message = path + extra[:1], "unknown key (typo?)"
    else:
        message = error.message
    key = ".".join(filter(None, [prefix, _key_path(path) if path else ""]))
    raise ParamsError(f"params: invalid value at '{key or '<top level>'}': {message}")


def validate_params(params: Mapping[str, Any]) -> None:
    """Check the schema; then what needs the method registry (each model's hyperparameters
    against its method's schema, the claims' roles); then that a ``device: cuda`` has a GPU
    here (a :class:`UserError` before any job runs).

    The method registry imports torch (a second per process). The part it checks, once
    accepted, is recorded under a key that covers it and the registry's source, so that the
    Snakefile and the stages that need no torch (and any later job) skip that import.
    """
    _first_error(_validator(), params, "")
    if unknown := [m for m in params["spurious"]["models"] if m not in params["models"]]:
        # DVC's matrix reads the list itself, so it must hold only models that exist
        raise ParamsError(f"params: invalid value at 'spurious.models': {', '.join(unknown)} "
                          "not a key of 'models'; name models defined there (an overlay that "
                          "sets a model to null drops it from spurious.models too)")
    sens = params["sensitivity"]
    if sens["n_align"] > sens["n_probe"]:
        raise ParamsError(
            f"params: invalid value at 'sensitivity.n_align': {sens['n_align']} exceeds "
            f"sensitivity.n_probe ({sens['n_probe']}): the alignment by context reuses the "
            "probe images' gradient maps; lower n_align or raise n_probe")
    stamp = _checked_dir() / _registry_key({"models": params["models"],
                                           "claims": params["claims"]["endpoints"]})
    if not stamp.exists():
        _check_with_registry(params)
        try:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()
        except OSError:  # a read-only home: validate again next time
            pass
    if params["device"] == "cuda":
        # Only when CUDA is asked for: torch tells whether a GPU is there.
        from robsens.core.runtime import check_device  # robsens: not-a-dependency

        check_device("cuda")


def _check_with_registry(params: Mapping[str, Any]) -> None:
    # Lazy (the registry imports torch), and no code dependency of any stage: validating can
    # reject a run but never changes an output.
    from robsens.methods import METHODS, ROLES  # robsens: not-a-dependency

    for name, entry in params["models"].items():
        method = entry["method"]
        if method not in METHODS:
            raise ParamsError(
                f"params: invalid value at 'models.{name}.method': unknown method {method!r}; "
                f"known: {', '.join(sorted(METHODS))}"
            )
        hp_schema = {"type": "object", "additionalProperties": False, **METHODS[method].HPARAMS}
        hp_schema["properties"] = {"method": {"type": "string"}, **hp_schema.get("properties", {})}
        _first_error(jsonschema.Draft202012Validator(hp_schema), dict(entry), f"models.{name}")
    _check_claims(params["claims"]["endpoints"], ROLES)


def _check_claims(endpoints: Mapping[str, Any], roles: Mapping[str, str]) -> None:
    """What the schema cannot say: an image-study claim has endpoints, over known roles."""
    for claim_id, spec in endpoints.items():
        key = f"claims.endpoints.{claim_id}"
        if "source" not in spec and "primary" not in spec:
            raise ParamsError(f"params: invalid value at '{key}': give `primary` endpoints "
                              "(or `source: linear`)")
        for i, endpoint in enumerate(spec.get("primary", [])):
            ref = endpoint.get("reference", [])
            for field, role in [("subject", endpoint["subject"]),
                                *(("reference", r) for r in ([ref] if isinstance(ref, str)
                                                             else ref))]:
                if role not in roles:
                    raise ParamsError(
                        f"params: invalid value at '{key}.primary.{i}.{field}': unknown role "
                        f"{role!r}; known: {', '.join(roles)}")


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read and validate a params file; raise :class:`ParamsError` with the key on failure."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params: file not found: {path}; run from the project root or "
                          "pass an existing file with --params")
    try:
        params = read_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"params: {path} is not valid YAML: {exc}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"params: {path} must hold a mapping of sections")
    validate_params(params)
    return params


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}`` (lists kept whole): MLflow params and hashing."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-able config parts (checkpoint and run identity)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def model_names(params: Mapping[str, Any], model_set: str = "models") -> list[str]:
    """The model names a model set holds: ``models`` (the corner-digit study's, a mapping) or
    ``spurious.models`` (the spurious-background study's, a list of ``models`` keys)."""
    node: Any = params
    for part in model_set.split("."):
        node = node[part]
    return list(node)


def check_model(params: Mapping[str, Any], model: str, model_set: str = "models") -> None:
    """``--model`` must name a model of the stage's model set."""
    names = model_names(params, model_set)
    if model not in names:
        raise ParamsError(f"--model {model!r} is not in '{model_set}' in params.yaml "
                          f"(known: {', '.join(names)})")


def run(params: Mapping[str, Any], args: Any) -> None:
    """``python -m robsens validate``: load_params has validated by now; say what it holds."""
    print(f"{args.params}: valid ({len(params['models'])} models x {len(params['seeds'])} seeds)")
