# Shared setup: validate params before any job runs; the models and seeds of the study.
import json
import sys
from pathlib import Path

import yaml

from robsens.core.config import validate_params
from robsens.core.errors import UserError

try:
    validate_params(config)
except UserError as exc:
    sys.exit(f"error: {exc}")

if config != yaml.safe_load(Path("params.yaml").read_text()):
    sys.exit("error: robsens reads params.yaml itself; edit (or replace) params.yaml instead of "
             "passing --config/--configfile to snakemake")

MODELS = list(config["models"])
SEEDS = config["seeds"]

wildcard_constraints:
    model="|".join(MODELS),
    seed=r"\d+",


onstart:
    shell("python -m robsens mlflow init")


# Record what Snakemake built in dvc.lock (and DVC's cache), so that `dvc repro` afterwards
# has nothing to do and `dvc push` can share the results.
onsuccess:
    if Path(".dvc").is_dir():
        shell("dvc commit --force --quiet || echo 'robsens: dvc.lock not updated (some "
              "outputs are missing); run `dvc commit` after a full run' >&2")
