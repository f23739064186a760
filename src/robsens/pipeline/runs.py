"""Config overlays and run names: a quick or a paper run never overwrites the default study.

``params.yaml`` holds the defaults and is the config of the default study (the one DVC
tracks, outputs in the project root). ``snakemake --configfile configs/<x>.yaml`` and
``--config key=value`` lay an overlay on it (Snakemake merges mappings key by key). Such a
config must set ``run_name``: it is validated like params.yaml, written as the run's own
params file ``runs/<run_name>/params.yaml`` and the run's jobs work in ``runs/<run_name>/``
(Snakemake's ``workdir``), so every job reads exactly that config and writes under that root
with the paths of :mod:`robsens.pipeline.paths` unchanged.

Two overlay conventions: a model set to ``null`` is left out of the run (JSON merge patch,
RFC 7386: mappings merge, so this is how an overlay drops a model); relative paths in the
config (``PATH_KEYS``, a relative SQLite tracking URI) mean the project root, as in
params.yaml, and are rewritten relative to the run's root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from robsens.core.config import ParamsError
from robsens.core.errors import UserError
from robsens.core.yamlio import read_yaml
from robsens.pipeline import paths
from robsens.pipeline.files import save_text_if_changed
from robsens.pipeline.params import validate_params

PATH_KEYS = (("data", "mnist", "cache_dir"), ("data", "mnist", "local_dir"))
SQLITE = "sqlite:///"


def typed(value: Any) -> Any:
    """A ``--config`` value with YAML's types inside lists and mappings. Snakemake types a
    top-level ``key=value`` (int, float, bool) but parses ``[3, 4]`` or ``{fcl: null}`` with
    YAML's base loader, which leaves every scalar inside a string."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return yaml.safe_load(value) if isinstance(value, str) else value


def merge(config: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Lay ``patch`` over ``config`` in place as Snakemake does: mappings merge key by key."""
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), dict):
            merge(config[key], value)
        else:
            config[key] = value


def drop_removed_models(config: dict[str, Any]) -> None:
    """Remove the models an overlay set to null (in place), from ``models`` and from the
    model sets (``paths.MODEL_SETS``: ``corner.models``...), which name models of ``models``."""
    models = config.get("models")
    if isinstance(models, dict):
        dropped = [n for n, entry in models.items() if entry is None]
        for name in dropped:
            del models[name]
        for model_set in paths.MODEL_SETS:
            *parents, key = model_set.split(".")
            section: Any = config
            for part in parents:
                section = section.get(part) if isinstance(section, dict) else None
            if isinstance(section, dict) and isinstance(section.get(key), list):
                section[key] = [m for m in section[key] if m not in dropped]


def _reroot(value: str, run_dir: Path) -> str:
    return value if os.path.isabs(value) else os.path.relpath(value, run_dir)


def run_params(config: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """``config`` as the run's params file: project-relative paths made relative to
    ``run_dir`` (the jobs' working directory)."""
    params = yaml.safe_load(yaml.safe_dump(dict(config)))  # a deep copy of plain data
    for *parents, key in PATH_KEYS:
        node = params
        for part in parents:
            node = node[part]
        if isinstance(node.get(key), str):
            node[key] = _reroot(node[key], run_dir)
    uri = params["mlflow"]["tracking_uri"]
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        params["mlflow"]["tracking_uri"] = SQLITE + _reroot(uri[len(SQLITE):], run_dir)
    return params


def prepare_run(config: dict[str, Any], cli_config: Mapping[str, Any] | None = None,
                defaults_path: Path = Path("params.yaml")) -> Path | None:
    """Validate the merged config and, for a named run, write its params file; return the
    run's root (None: the default study, which runs in the project root on params.yaml).
    ``cli_config``: the ``--config`` entries as Snakemake parsed them (re-typed here).

    Raises :class:`ParamsError` for an invalid config, or an overlay without a run name
    (it would overwrite the default study's results)."""
    merge(config, typed(dict(cli_config or {})))
    drop_removed_models(config)
    validate_params(config)
    name = config["run_name"]
    if not name:
        if config != read_yaml(defaults_path.read_text()):
            raise ParamsError(
                "params: --configfile/--config changed the parameters but not 'run_name': set "
                "it (e.g. --config run_name=quick) so the run's outputs go to runs/<run_name>/ "
                "and the default study's results are kept")
        return None
    run_dir = paths.RUNS_DIR / name
    text = yaml.safe_dump(run_params(config, run_dir), sort_keys=False)
    target = run_dir / "params.yaml"
    save_text_if_changed(target, text)
    return run_dir


def check_run_root(params: Mapping[str, Any]) -> None:
    """A named run's jobs work in its root, ``runs/<run_name>/`` (Snakemake's ``workdir``):
    run from anywhere else, a command would read and write the default study's files under
    the named run's settings (``mlflow sync`` with runs/smoke/params.yaml from the project
    root logged the default study's 40 models into the smoke experiment)."""
    name = params.get("run_name") or ""
    root = paths.RUNS_DIR / name
    if name and Path.cwd().parts[-2:] != root.parts:
        raise UserError(f"the params name the run '{name}', whose files live in {root}/: run "
                        f"this command there (cd {root})")
