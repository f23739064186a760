"""The clean evaluation stage: accuracy, rare-class accuracy, probe flip rates, its section."""
