# Noise injection (one stage: every corruption x severity of the test subset, a versioned
# artifact per corruption plus a manifest) and robustness evaluation (per model and seed).
CORRUPTED = "data/corrupted"


rule corrupt:
    input:
        code("corruptions"),
        f"{DATA}/test.npz",
        f"{DATA}/manifest.json",
    output:
        directory(CORRUPTED),
    params:
        cfg=section("robustness.seed", "robustness.n_images", "robustness.corruptions"),
    log:
        "logs/corrupt.log",
    benchmark:
        "benchmarks/corrupt.tsv"
    threads: config["threads"]
    shell:
        "python -m robsens corrupt > {log} 2>&1"


rule robustness:
    input:
        code("robustness.py", "perturb.py", "evaluate.py"),
        CORRUPTED,
        model="results/models/{model}/seed{seed}/model.pt",
        history="results/models/{model}/seed{seed}/history.json",
        test=f"{DATA}/test.npz",
    output:
        "results/metrics/{model}/seed{seed}/robustness.json",
    params:
        cfg=section("robustness"),
    log:
        "logs/robustness/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/robustness/{model}/seed{seed}.tsv"
    threads: config["threads"]
    shell:
        "python -m robsens robustness --model {wildcards.model} --seed {wildcards.seed} > {log} 2>&1"


REPORT_INPUTS += code("robustness_report.py")
REPORT_INPUTS += expand(
    "results/metrics/{model}/seed{seed}/robustness.json", model=MODELS, seed=SEEDS
)
