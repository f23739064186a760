"""Fingerprints: what each job's outputs can depend on, one small JSON file per stage (per
model for the training stages), the one input through which Snakemake and DVC both see code
and params.

A fingerprint holds the stage's code digest (:func:`robsens.pipeline.deps.code_digest`: the
syntax of the modules its outputs are computed from, without docstrings, comments or layout)
and the params values it reads, minus the keys the schema declares result-neutral; a training
stage's holds its model's hyperparameters as its method resolves them. A file is rewritten
only when its content changes, so its mtime (Snakemake) and its hash (DVC) both move exactly
when something a job computes with has changed. Snakemake writes them when it reads the
workflow (``workflow/rules/common.smk``); DVC's first stage, ``fingerprints``, writes them
from ``src/robsens`` and ``params.yaml``. ``python -m robsens pipeline fingerprints`` writes
them by hand.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robsens.core.config import model_names, result_neutral_keys
from robsens.core.io import load_json, save_text
from robsens.pipeline import deps, paths
from robsens.pipeline.files import save_text_if_changed, user_cache
from robsens.pipeline.stages import BY_NAME, STAGES, Stage


def study_models(params: Mapping[str, Any]) -> list[str]:
    """Every model the image studies train (every model set), in order."""
    return list(dict.fromkeys(m for s in paths.MODEL_SETS for m in model_names(params, s)))


# The params sections a method's ``resolve`` may read besides its own entry (FCL: the
# evaluation's perturbation and batch size; the oracle: the corner square). Resolution here
# sees only these, so a method reading another section fails loudly instead of being cached
# under a key that does not cover it.
RESOLVE_READS = ("sensitivity", "evaluate", "data")


def resolved_hparams(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each study model's hyperparameters after its method's ``resolve``. Resolving loads the
    method registry, and with it torch (seconds); the result is kept under a key of what it
    reads and of the registry's source, so that reading the workflow does that once per
    change (validation fills it while it has the registry loaded)."""
    models = {name: params["models"][name] for name in study_models(params)}
    visible = {section: params[section] for section in RESOLVE_READS}
    blob = json.dumps([models, visible], sort_keys=True, default=str)
    key = hashlib.sha256((blob + deps.source_digest(deps.METHODS_PACKAGE)).encode()).hexdigest()
    cached = user_cache("resolved-hparams") / f"{key}.json"
    if cached.is_file():
        return load_json(cached)
    from robsens.methods import METHODS  # loaded only on a cache miss (torch)

    resolved = {}
    for name, entry in models.items():
        try:
            resolved[name] = METHODS[entry["method"]].resolve(entry, visible)
        except KeyError as exc:
            raise RuntimeError(f"method {entry['method']!r}: resolve read params section "
                               f"{exc}; add it to robsens.pipeline.fingerprints."
                               "RESOLVE_READS") from exc
    resolved = json.loads(json.dumps(resolved, sort_keys=True, default=str))
    with contextlib.suppress(OSError):  # a read-only home: resolve again next time
        save_text(cached, json.dumps(resolved, sort_keys=True))
    return resolved


def _drop(values: dict[str, Any], neutral: list[str]) -> dict[str, Any]:
    """``values`` (dotted key -> value or subtree) without the result-neutral keys."""
    kept = copy.deepcopy(values)
    for key in neutral:
        for picked in list(kept):
            if key == picked:
                del kept[picked]
            elif key.startswith(picked + "."):
                *path, last = key[len(picked) + 1:].split(".")
                node = kept[picked]
                for part in path:
                    node = node.get(part) if isinstance(node, dict) else None
                if isinstance(node, dict):
                    node.pop(last, None)
    return kept


def fingerprint(stage: Stage, params: Mapping[str, Any], model: str | None = None,
                hparams: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What ``stage``'s jobs (for ``model``, in a per-model stage) compute with: the code
    modules and their digest, the params values. ``hparams``: :func:`resolved_hparams`,
    when already at hand."""
    if stage.per_model:
        methods = [params["models"][model]["method"]]
        values = stage.params_values(params, {"model": model})
        values.pop(f"models.{model}", None)
        values["hparams"] = (hparams or resolved_hparams(params))[model]
    else:
        methods = sorted({params["models"][m]["method"] for m in study_models(params)})
        values = stage.params_values(params, {})
    modules = deps.code_modules(stage.entry, methods)
    return {"stage": stage.name, **({"model": model} if model else {}),
            "code": {"digest": deps.code_digest(modules), "modules": list(modules)},
            "params": _drop(values, list(result_neutral_keys()))}


def render(content: Mapping[str, Any]) -> str:
    return json.dumps(content, indent=1, sort_keys=True, default=str) + "\n"


def expected(params: Mapping[str, Any]) -> dict[Path, str]:
    """Every fingerprint file of a run with these params and its text."""
    hparams = resolved_hparams(params)
    files = {}
    for stage in STAGES:
        models = model_names(params, stage.model_set) if stage.per_model else [None]
        for model in models:
            path = Path(stage.fingerprint.format(model=model))
            files[path] = render(fingerprint(stage, params, model, hparams))
    return files


def write_fingerprints(params: Mapping[str, Any], root: Path = Path()) -> list[Path]:
    """Write the fingerprints under ``root`` whose content changed (atomically; the others
    keep their mtime) and remove those of models no longer trained; return what changed."""
    files = expected(params)
    changed = []
    for rel, text in files.items():
        if save_text_if_changed(root / rel, text):
            changed.append(rel)
    for stale in sorted((root / paths.FINGERPRINTS_DIR).glob("**/*.json")):
        if stale.relative_to(root) not in files:
            stale.unlink()
            changed.append(stale.relative_to(root))
    return changed


def job_fingerprint(stage_name: str, params: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The fingerprint of one per-model job, computed without the file (a job's identity)."""
    return fingerprint(BY_NAME[stage_name], params, model)
