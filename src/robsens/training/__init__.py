"""The train stage: the loop, run identity and resume, its MLflow run."""
