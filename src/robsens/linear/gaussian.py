"""The Gaussian core/spurious data model of docs/science.md section 6.

z ~ N(0, I_dc) drives both the target y = 1^T z / sqrt(dc) + eta and the core features
x_c = sigma_c z. Spurious feature j shadows latent z_(j mod dc):
x_s = sigma_s (rho z_(j mod dc) + sqrt(1 - rho^2) n_j), so it tracks y through rho but carries no
information once x_c is known. With dc == ds this is exactly the model of docs/science.md.
Everything downstream needs only the second moments, so they are exposed in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class GaussianModel:
    dim_core: int
    dim_spurious: int
    sigma_core: float
    sigma_spurious: float
    rho: float
    noise_std: float

    @property
    def shadowed_latent(self) -> np.ndarray:
        """Index of the latent coordinate each spurious feature is correlated with."""
        return np.arange(self.dim_spurious) % self.dim_core

    def with_rho(self, rho: float) -> GaussianModel:
        """The same model after a shift of the spurious correlation (test-time rho)."""
        return replace(self, rho=rho)

    def moments(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(Cov(x), Cov(x, y), Var(y)): the population squared error is a quadratic in w."""
        dc, sc, ss, rho = self.dim_core, self.sigma_core, self.sigma_spurious, self.rho
        shadow = np.eye(dc)[self.shadowed_latent]  # (ds, dc) one-hot rows
        cov = np.block([
            [sc**2 * np.eye(dc), rho * sc * ss * shadow.T],
            [rho * sc * ss * shadow, ss**2 * (rho**2 * shadow @ shadow.T
                                              + (1 - rho**2) * np.eye(self.dim_spurious))],
        ])
        cross = np.concatenate([np.full(dc, sc), np.full(self.dim_spurious, rho * ss)])
        return cov, cross / np.sqrt(dc), 1.0 + self.noise_std**2

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw (X, y); draws are ordered so that equal seeds share z, n, eta across models."""
        z = rng.standard_normal((n, self.dim_core))
        indep = rng.standard_normal((n, self.dim_spurious))
        eta = rng.standard_normal(n)
        spurious = self.rho * z[:, self.shadowed_latent] + np.sqrt(1 - self.rho**2) * indep
        x = np.hstack([self.sigma_core * z, self.sigma_spurious * spurious])
        y = z.sum(axis=1) / np.sqrt(self.dim_core) + self.noise_std * eta
        return x, y
