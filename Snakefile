# robsens: thin entry point. The rules are generated from the stage table in
# src/robsens/pipeline/stages.py; params.yaml is the config.
# Run `snakemake --cores all` from the project root (with the .venv activated);
# `snakemake --report report.html` afterwards writes the figures and the run's provenance.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/pipeline.smk"


rule all:
    """The whole study: everything the report stage reads, then the report."""
    default_target: True
    input:
        rules.report.output,
