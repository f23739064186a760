"""Infrastructure every stage shares: params, atomic IO, determinism, statistics, MLflow."""
