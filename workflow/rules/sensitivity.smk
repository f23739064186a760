# Contextual utility and sensitivity (science.md section 2), per model and seed: summaries
# (metrics JSON) and the per-image arrays the report's figures are drawn from.
rule sensitivity:
    input:
        code("sensitivity.py", "attribution.py", "perturb.py"),
        model="results/models/{model}/seed{seed}/model.pt",
        history="results/models/{model}/seed{seed}/history.json",
        test=f"{DATA}/test.npz",
        probe=f"{DATA}/probe.npz",
    output:
        metrics="results/metrics/{model}/seed{seed}/sensitivity.json",
        arrays="results/metrics/{model}/seed{seed}/sensitivity_maps.npz",
    params:
        cfg=section("sensitivity"),
    log:
        "logs/sensitivity/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/sensitivity/{model}/seed{seed}.tsv"
    threads: config["threads"]
    shell:
        "python -m robsens sensitivity --model {wildcards.model} --seed {wildcards.seed} > {log} 2>&1"


REPORT_INPUTS += code("sensitivity_report.py")
REPORT_INPUTS += expand(
    "results/metrics/{model}/seed{seed}/{name}",
    model=MODELS,
    seed=SEEDS,
    name=["sensitivity.json", "sensitivity_maps.npz"],
)
