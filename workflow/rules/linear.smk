# Linear study (science.md section 6): an independent branch of the DAG (no image data), its
# results read by the report.
LINEAR = "results/linear"


rule linear:
    input:
        code("linear/gaussian.py", "linear/adversarial.py", "linear/solve.py",
             "linear/sweep.py", "linear/claims.py", "linear/study.py", "linear/tracking.py"),
    output:
        f"{LINEAR}/sweep.csv",
        f"{LINEAR}/summary.json",
    params:
        cfg=section("linear"),
    log:
        "logs/linear.log",
    benchmark:
        "benchmarks/linear.tsv"
    threads: 1
    shell:
        "python -m robsens linear > {log} 2>&1"


REPORT_INPUTS += code("linear/figures.py", "linear/report.py")
REPORT_INPUTS += [f"{LINEAR}/sweep.csv", f"{LINEAR}/summary.json"]
