"""Linear study (docs/science.md section 6): core vs spurious features under l_1, l_2, l_inf
adversarial training, as exact population optima and as finite-sample training.

Entry points: ``study.run_linear_study`` (the ``linear`` stage), ``report.linear_section``
(its part of the report) and ``tracking.log_linear_study`` (its MLflow run).
"""
