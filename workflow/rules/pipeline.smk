# Every rule, generated from the stage table (src/robsens/pipeline/stages.py), the one
# declaration that dvc.yaml is generated from too. Code and params reach a job through its
# fingerprint file (robsens.pipeline.fingerprints, written in common.smk): editing a module
# or a param reruns exactly the jobs that compute with it.
#
# `snakemake --lint` finds one thing in each generated rule, and it is deliberate
# (tests/test_snakemake_report.py fails on any finding without such a line):
# lint-justified: Specify a conda environment or container for each rule.
#   All jobs run the same package in the project's one virtual environment (`./dev setup`,
#   torch pinned, constraints.txt for the rest); per-rule environments would install torch
#   eight times over and could drift away from the environment the tests run in.

from robsens.pipeline.stages import STAGES, gathered_inputs
from robsens.report.figures import BY_NAME as FIGURES


def declared(out):
    """An output as Snakemake declares it; the report's figures go into `snakemake --report`,
    each PNG under its category, with its caption (workflow/report/figure.rst reads it from
    the rule's params)."""
    if out.figures:
        return report(directory(out.path), patterns=["{figure}.png"], caption="../report/figure.rst",
                      category=lambda wildcards: FIGURES[wildcards.figure].category)
    return directory(out.path) if out.directory else out.path


def captions_of(stage):
    """The captions of the figures a stage writes, for workflow/report/figure.rst."""
    if any(out.figures for out in stage.outs):
        return {"captions": {name: figure.caption for name, figure in FIGURES.items()}}
    return {}


def command_of(stage):
    """The stage's command for one job (a function: rule bodies run after the loop ends)."""

    def command(wildcards):
        return stage.command.format(**wildcards)

    return command


def per_attempt(base):
    """A resource that grows with each try (attempt 1, 2, ...): a job killed for its memory or
    time limit gets more on the retry (--restart-times), where training resumes from its
    last checkpoint."""

    def value(wildcards, attempt):
        return base * attempt

    return value


# A job that will not touch a GPU (params device: cpu) does not ask a scheduler for one.
USES_GPU = config["device"] != "cpu"

for stage in STAGES:

    rule:
        name:
            stage.name
        input:
            fingerprint=stage.fingerprint,
            deps=stage.inputs(config),
            gathered=gathered_inputs(stage, config),
        output:
            [declared(out) for out in stage.outs],
        params:
            command=command_of(stage),
            **captions_of(stage),
        log:
            stage.log,
        benchmark:
            stage.benchmark
        threads: config["threads"] if stage.threads_from_params else 1
        resources:
            mem_mb=per_attempt(stage.mem_mb),
            runtime=per_attempt(stage.runtime),
            gpu=stage.gpu if USES_GPU else 0,
        shell:
            "{params.command} > {log} 2>&1"

    # Generated rules cannot carry a docstring literal, so the stage's help becomes the
    # docstring (`snakemake --list-rules` and the report show it).
    getattr(rules, stage.name).rule.docstring = stage.help
