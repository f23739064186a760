rule synthesize:
    input:
        code("data"),
    output:
        expand(f"{DATA}/{{split}}.npz", split=SPLITS),
        f"{DATA}/manifest.json",
    params:
        cfg=section("data"),
    log:
        "logs/synthesize.log",
    benchmark:
        "benchmarks/synthesize.tsv"
    shell:
        "python -m robsens synthesize > {log} 2>&1"
