"""The pipeline's single declaration: paths, the stage table, computed code dependencies."""
