"""Building blocks of training and evaluation: the model, PGD, perturbations, attribution maps."""
