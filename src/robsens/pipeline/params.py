"""Load and validate ``params.yaml``, the single source of truth for every stage.

Validation happens before any job runs (the CLI and the Snakefile both call
:func:`load_params`), and a bad value yields one :class:`ParamsError` naming the key: the
schema (:func:`robsens.core.config.check_schema`), then what needs the method registry (each
model's hyperparameters, the claims' roles), which is why this module sits above the methods.
``python -m robsens validate`` is its command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from robsens.core.config import ParamsError, check_schema, first_error, model_names
from robsens.core.yamlio import read_yaml
from robsens.pipeline import paths
from robsens.pipeline.files import user_cache


def _registry_key(checked: Mapping[str, Any]) -> str:
    """What the registry check covers (the ``models`` section and the claims' endpoints) with
    the source of the method registry and the validator (every module they import): the same
    key can only be accepted again."""
    # Validation only: no stage's code dependency (see validate_params).
    from robsens.pipeline.deps import source_digest  # robsens: not-a-dependency

    blob = json.dumps(checked, sort_keys=True, default=str).encode()
    digest = source_digest("robsens.pipeline.params", "robsens.methods")
    return hashlib.sha256(blob + digest.encode()).hexdigest()


def validate_params(params: Mapping[str, Any]) -> None:
    """Check the schema; then what needs the method registry (each model's hyperparameters
    against its method's schema, the claims' roles); then that a ``device: cuda`` has a GPU
    here (a :class:`UserError` before any job runs).

    The method registry imports torch (a second per process). The part it checks, once
    accepted, is recorded under a key that covers it and the registry's source, so that the
    Snakefile and the stages that need no torch (and any later job) skip that import.
    """
    check_schema(params)
    for model_set in paths.MODEL_SETS:
        if unknown := [m for m in model_names(params, model_set) if m not in params["models"]]:
            # DVC's matrix reads the list itself, so it must hold only models that exist
            raise ParamsError(
                f"params: invalid value at '{model_set}': {', '.join(unknown)} not a key of "
                "'models'; name models defined there (an overlay that sets a model to null "
                f"drops it from {model_set} too)")
    sens = params["sensitivity"]
    if sens["n_align"] > sens["n_probe"]:
        raise ParamsError(
            f"params: invalid value at 'sensitivity.n_align': {sens['n_align']} exceeds "
            f"sensitivity.n_probe ({sens['n_probe']}): the alignment by context reuses the "
            "probe images' gradient maps; lower n_align or raise n_probe")
    accepted = user_cache("valid-hparams") / _registry_key({"models": params["models"],
                                              "claims": params["claims"]["endpoints"]})
    if not accepted.exists():
        _check_with_registry(params)
        try:
            accepted.parent.mkdir(parents=True, exist_ok=True)
            accepted.touch()
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
        first_error(jsonschema.Draft202012Validator(hp_schema), dict(entry), f"models.{name}")
    _check_claims(params["claims"]["endpoints"], ROLES)
    # with the registry loaded: the resolved hyperparameters the fingerprints need, so that
    # reading the workflow next does not load torch for them
    from robsens.pipeline.fingerprints import resolved_hparams  # robsens: not-a-dependency

    resolved_hparams(params)


def _check_claims(endpoints: Mapping[str, Any], roles: Mapping[str, str]) -> None:
    """What the schema cannot say: an image-study claim has endpoints, and every role that its
    endpoints, its fallbacks' and its control name is known (one error naming the key)."""
    for claim_id, spec in endpoints.items():
        key = f"claims.endpoints.{claim_id}"
        if "primary" not in spec:
            if "source" not in spec:
                raise ParamsError(f"params: invalid value at '{key}': give `primary` endpoints "
                                  "(or `source: linear`)")
            if "control" in spec:
                raise ParamsError(f"params: invalid value at '{key}.control': a control reads "
                                  "the claim's `primary` endpoints; a `source: linear` claim "
                                  "has none")
            continue
        options = [(f"{key}.primary", spec["primary"]),
                   *((f"{key}.fallbacks.{k}.primary", f["primary"])
                     for k, f in enumerate(spec.get("fallbacks", [])))]
        named: list[tuple[str, str]] = []  # (key, role)
        for where, option in options:
            for i, endpoint in enumerate(option):
                ref = endpoint.get("reference", [])
                named += [(f"{where}.{i}.subject", endpoint["subject"]),
                          *((f"{where}.{i}.reference", r)
                            for r in ([ref] if isinstance(ref, str) else ref))]
        if control := spec.get("control"):
            named += [(f"{key}.control.{field}", control[field])
                      for field in ("subject", "reference")]
        for where, role in named:
            if role not in roles:
                raise ParamsError(f"params: invalid value at '{where}': unknown role {role!r}; "
                                  f"known: {', '.join(roles)}")


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


def load_run_params(run_dir: Path) -> dict[str, Any]:
    """A named run's params as its jobs read them (``<run_dir>/params.yaml``), for a tool that
    reads the run's results from the project root."""
    path = run_dir / "params.yaml"
    if not path.is_file():
        raise ParamsError(f"{path} not found: run it first (snakemake --cores all "
                          "--configfile configs/<overlay>.yaml)")
    return load_params(path)


def run(params: Mapping[str, Any], args: Any) -> None:
    """``python -m robsens validate``: load_params has validated by now; say what it holds."""
    studies = ", ".join(f"{len(model_names(params, f'{study}.models'))} {study}"
                        for study in ("corner", "spurious"))
    print(f"{args.params}: valid ({studies} models x {len(params['seeds'])} seeds)")
