# Shared setup: validate params.yaml before any job runs, and name the study's models.
import json
import sys
from pathlib import Path

import yaml

from robsens.config import ParamsError, validate_params

try:
    validate_params(config)
except ParamsError as exc:
    sys.exit(f"error: {exc}")

if config != yaml.safe_load(Path("params.yaml").read_text()):
    sys.exit("error: robsens reads params.yaml itself; edit (or replace) params.yaml instead of "
             "passing --config/--configfile to snakemake")

MODELS = list(config["models"])
SEEDS = config["seeds"]
SPLITS = ["train", "val", "test", "probe"]
DATA = "data/corner"

# Outputs the report stage reads; evaluation rule files append theirs.
REPORT_INPUTS = [f"{DATA}/manifest.json", f"{DATA}/test.npz"]

wildcard_constraints:
    model="|".join(MODELS),
    seed=r"\d+",


def section(*keys):
    """Params a rule depends on (dotted keys), as JSON: Snakemake reruns a job when they change."""
    def pick(key):
        node = config
        for part in key.split("."):
            node = node[part]
        return node

    return json.dumps({key: pick(key) for key in keys}, sort_keys=True)


def code(*paths):
    """Source files a rule's results depend on (a directory means its .py files)."""
    files = []
    for p in paths:
        p = Path("src/robsens") / p
        files += sorted(str(f) for f in p.rglob("*.py")) if p.is_dir() else [str(p)]
    return files


onstart:
    shell("python -m robsens mlflow init")
