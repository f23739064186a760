"""The pipeline's single declaration: paths, the stage table, fingerprints (computed code
dependencies and params), dvc.yaml and the rerun table."""
