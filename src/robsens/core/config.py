"""The params schema and what every layer reads from params.

:func:`check_schema` checks ``params.yaml`` against ``params.schema.yaml`` and names the
first bad key in one :class:`ParamsError`; the full validation, which also needs the method
registry, is :mod:`robsens.pipeline.params` (above the methods). Helpers here read the
params the same way everywhere: :func:`model_names`, :func:`check_model`, :func:`flatten`,
:func:`content_digest`, :func:`result_neutral_keys`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from robsens.core.errors import UserError
from robsens.core.yamlio import read_yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "params.schema.yaml"  # ships with the package


class ParamsError(UserError, ValueError):
    """An invalid params file; the message names the offending key."""


@cache
def _schema() -> dict:
    return read_yaml(SCHEMA_PATH.read_text())


@cache
def _validator() -> jsonschema.Validator:
    """The params schema, compiled once per process."""
    return jsonschema.Draft202012Validator(_schema())


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def first_error(validator: jsonschema.Validator, instance: Any, prefix: str) -> None:
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


def result_neutral_keys() -> dict[str, str]:
    """The params keys the schema declares result-neutral (``x-result-neutral``: why), by
    dotted key: settings of speed, memory or benchmarks that no output depends on, so no
    fingerprint holds them and changing one reruns nothing."""
    found: dict[str, str] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, child in node.get("properties", {}).items():
            if "x-result-neutral" in child:
                found[prefix + key] = child["x-result-neutral"]
            walk(child, f"{prefix}{key}.")

    walk(_schema(), "")
    return found


def content_digest(*parts: Any) -> str:
    """Short stable hash of JSON-able config parts (checkpoint and run identity)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def check_schema(params: Mapping[str, Any]) -> None:
    """The schema's checks: the first violation as one :class:`ParamsError` naming the key."""
    first_error(_validator(), params, "")


def model_names(params: Mapping[str, Any], model_set: str = "corner.models") -> list[str]:
    """The model names a model set holds: ``corner.models`` (the corner-digit study's) or
    ``spurious.models`` (the spurious-background study's), each a list of ``models`` keys."""
    node: Any = params
    for part in model_set.split("."):
        node = node[part]
    return list(node)


def check_model(params: Mapping[str, Any], model: str,
                model_set: str = "corner.models") -> None:
    """``--model`` must name a model of the stage's model set."""
    names = model_names(params, model_set)
    if model not in names:
        raise ParamsError(f"--model {model!r} is not in '{model_set}' in params.yaml "
                          f"(known: {', '.join(names)})")

