# Shared setup: validate the config before any job runs; the run's root; the models.
# The config is params.yaml, or an overlay on it (--configfile configs/<x>.yaml, --config
# key=value) that names its run: robsens.pipeline.runs writes it to runs/<run_name>/params.yaml
# and the run's jobs work in runs/<run_name>/ (workdir below), reading that file.
import sys
from pathlib import Path

from robsens.core.errors import UserError
from robsens.core.yamlio import read_yaml
from robsens.pipeline.fingerprints import write_fingerprints
from robsens.pipeline.runs import prepare_run

try:
    RUN_DIR = prepare_run(config, workflow.config_settings.config)
except UserError as exc:
    sys.exit(f"error: {exc}")

# What each job computes with (code digest, params), one file per stage or trained model:
# rewritten only where that changed, so Snakemake reruns exactly the jobs that read it.
RUN_ROOT = Path() if RUN_DIR is None else RUN_DIR
try:
    FINGERPRINTS_CHANGED = write_fingerprints(
        config if RUN_DIR is None else read_yaml((RUN_DIR / "params.yaml").read_text()),
        RUN_ROOT)
except UserError as exc:
    sys.exit(f"error: {exc}")
if FINGERPRINTS_CHANGED:
    print(f"robsens: {len(FINGERPRINTS_CHANGED)} fingerprint(s) changed: "
          + ", ".join(p.as_posix() for p in FINGERPRINTS_CHANGED[:8])
          + (" ..." if len(FINGERPRINTS_CHANGED) > 8 else ""), file=sys.stderr)

if RUN_DIR is not None:

    workdir: RUN_DIR


MODELS = list(config["models"])

wildcard_constraints:
    model="|".join(MODELS),
    seed=r"\d+",


onstart:
    shell("python -m robsens mlflow init")


# Record what Snakemake built in dvc.lock (and DVC's cache; records of stages dvc.yaml no
# longer defines are dropped), so that `dvc repro` afterwards has nothing to do and `dvc push`
# can share the results, and refresh the claims at a glance that README.md shows. Named runs are not DVC's (their root has no .dvc) and do neither.
onsuccess:
    if Path(".dvc").is_dir():
        shell("python -m robsens pipeline commit || echo 'robsens: dvc.lock not updated "
              "(some outputs are missing); run `python -m robsens pipeline commit` after a "
              "full run' >&2")
        # the README's claims at a glance are generated from reports/summary.json
        shell("python -m robsens pipeline docs > /dev/null || echo 'robsens: the claims in "
              "README.md are not refreshed; run `python -m robsens pipeline docs`' >&2")
