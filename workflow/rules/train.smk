rule train:
    input:
        code("train.py", "model.py", "runtime.py", "methods", "attacks.py", "perturb.py",
             "attribution.py"),
        f"{DATA}/train.npz",
        f"{DATA}/val.npz",
        f"{DATA}/manifest.json",
    output:
        model="results/models/{model}/seed{seed}/model.pt",
        history="results/models/{model}/seed{seed}/history.json",
    params:
        cfg=lambda w: section("train", "model", f"models.{w.model}"),
    log:
        "logs/train/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{model}/seed{seed}.tsv"
    threads: config["threads"]
    shell:
        "python -m robsens train --model {wildcards.model} --seed {wildcards.seed} > {log} 2>&1"
