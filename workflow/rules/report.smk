rule report:
    input:
        code("report.py", "metrics.py", "figures.py", "stats.py"),
        REPORT_INPUTS,
    output:
        md="reports/results.md",
        summary="reports/summary.json",
        figures=directory("reports/figures"),
    params:
        cfg=section("report", "models", "seeds"),
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    shell:
        "python -m robsens report > {log} 2>&1"
