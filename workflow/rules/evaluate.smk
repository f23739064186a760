rule evaluate:
    input:
        code("evaluate.py"),
        model="results/models/{model}/seed{seed}/model.pt",
        history="results/models/{model}/seed{seed}/history.json",
        test=f"{DATA}/test.npz",
        probe=f"{DATA}/probe.npz",
    output:
        "results/metrics/{model}/seed{seed}/clean.json",
    params:
        cfg=section("evaluate"),
    log:
        "logs/evaluate/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/evaluate/{model}/seed{seed}.tsv"
    threads: config["threads"]
    shell:
        "python -m robsens evaluate --model {wildcards.model} --seed {wildcards.seed} > {log} 2>&1"


REPORT_INPUTS += expand("results/metrics/{model}/seed{seed}/clean.json", model=MODELS, seed=SEEDS)
