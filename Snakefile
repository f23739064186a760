# robsens: thin entry point. The rules are generated from the stage table in
# src/robsens/pipeline/stages.py; params.yaml is the config.
# Run `snakemake --cores all` from the project root (with the .venv activated).

configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/pipeline.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
