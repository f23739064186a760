# Shared setup: validate the config before any job runs; the run's root; the models.
# The config is params.yaml, or an overlay on it (--configfile configs/<x>.yaml, --config
# key=value) that names its run: robsens.pipeline.runs writes it to runs/<run_name>/params.yaml
# and the run's jobs work in runs/<run_name>/ (workdir below), reading that file.
import sys
from pathlib import Path

from robsens.core.errors import UserError
from robsens.pipeline.runs import prepare_run

PROJECT_ROOT = Path.cwd()  # before workdir: where the code (src/robsens) lives

try:
    RUN_DIR = prepare_run(config, workflow.config_settings.config)
except UserError as exc:
    sys.exit(f"error: {exc}")

if RUN_DIR is not None:

    workdir: RUN_DIR


MODELS = list(config["models"])

wildcard_constraints:
    model="|".join(MODELS),
    seed=r"\d+",


onstart:
    shell("python -m robsens mlflow init")


# Record what Snakemake built in dvc.lock (and DVC's cache), so that `dvc repro` afterwards
# has nothing to do and `dvc push` can share the results, and refresh the claims at a glance
# that README.md shows. Named runs are not DVC's (their root has no .dvc) and do neither.
onsuccess:
    if Path(".dvc").is_dir():
        shell("dvc commit --force --quiet || echo 'robsens: dvc.lock not updated (some "
              "outputs are missing); run `dvc commit` after a full run' >&2")
        # the README's claims at a glance are generated from reports/summary.json
        shell("python -m robsens pipeline docs > /dev/null || echo 'robsens: the claims in "
              "README.md are not refreshed; run `python -m robsens pipeline docs`' >&2")
