# robsens: thin entry point. The rules live in workflow/rules/; params.yaml is the config.
# Run `snakemake --cores all` from the project root (with the .venv activated).

configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/linear.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
