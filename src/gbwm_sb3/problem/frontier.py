"""Markowitz efficient frontier: portfolios from asset mean returns and a covariance matrix.

Users describe asset classes (bonds, stocks, ...) by their expected returns and
covariance; GBWM needs ``n`` portfolios on the efficient frontier. The frontier
is the standard one with short sales allowed (minimum variance for a target
mean under the budget constraint), which reproduces the paper's portfolios.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gbwm_sb3.problem.model import Portfolios, as_float_sequence

__all__ = ["EfficientFrontier", "efficient_frontier", "PAPER_ASSET_MEANS", "PAPER_ASSET_COVARIANCE"]

#: Markowitz inputs of the paper: US bonds, US stocks, international stocks.
PAPER_ASSET_MEANS = (0.0493, 0.0770, 0.0886)
PAPER_ASSET_COVARIANCE = (
    (0.0017, -0.0017, -0.0021),
    (-0.0017, 0.0396, 0.0309),
    (-0.0021, 0.0309, 0.0391),
)


class EfficientFrontier:
    """The minimum-variance frontier of a set of assets.

    ``weights(mu)`` gives the minimum-variance weights for target means
    ``mu``; the efficient part starts at the global minimum-variance
    portfolio's mean ``min_mean``.
    """

    def __init__(self, asset_means: Sequence[float] | np.ndarray,
                 covariance: Sequence[Sequence[float]] | np.ndarray) -> None:
        means = as_float_sequence(asset_means, "asset_means")
        if means.size < 2:
            raise ValueError(f"asset_means must name at least 2 assets, got {means.size}")
        try:
            cov = np.asarray(covariance, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"covariance must be a matrix of real numbers, got {covariance!r}")\
                from None
        if cov.shape != (means.size, means.size):
            raise ValueError(
                f"covariance must be a {means.size}x{means.size} matrix (one row per asset), "
                f"got shape {cov.shape}"
            )
        if not np.all(np.isfinite(cov)):
            raise ValueError("covariance must contain only finite numbers")
        scale = max(float(np.max(np.abs(cov))), 1e-300)
        if not np.allclose(cov, cov.T, rtol=1e-9, atol=1e-12 * scale):
            raise ValueError("covariance must be symmetric")
        eigenvalues = np.linalg.eigvalsh(cov)
        if eigenvalues[0] < -1e-10 * scale:
            raise ValueError(
                "covariance must be positive semi-definite, got smallest eigenvalue "
                f"{eigenvalues[0]:.3g}"
            )
        self.asset_means = means
        self.covariance = 0.5 * (cov + cov.T)
        n = means.size
        # KKT system of: minimise w' S w  s.t.  m' w = mu, 1' w = 1.
        kkt = np.zeros((n + 2, n + 2))
        kkt[:n, :n] = 2.0 * self.covariance
        kkt[:n, n] = kkt[n, :n] = means
        kkt[:n, n + 1] = kkt[n + 1, :n] = 1.0
        if np.linalg.matrix_rank(kkt) < n + 2:
            raise ValueError(
                "asset_means and covariance do not define a frontier: the assets must not all "
                "have the same mean, and no combination of them may be riskless"
            )
        self._kkt = kkt
        # Global minimum-variance portfolio: minimise w' S w  s.t.  1' w = 1.
        gmv_system = np.zeros((n + 1, n + 1))
        gmv_system[:n, :n] = 2.0 * self.covariance
        gmv_system[:n, n] = gmv_system[n, :n] = 1.0
        rhs = np.zeros(n + 1)
        rhs[n] = 1.0
        gmv_weights = np.linalg.lstsq(gmv_system, rhs, rcond=None)[0][:n]
        self.min_mean = float(gmv_weights @ means)
        self.min_volatility = float(np.sqrt(max(gmv_weights @ self.covariance @ gmv_weights, 0.0)))
        if self.min_volatility <= 0.0:
            raise ValueError("covariance admits a riskless portfolio; volatilities must be > 0")

    def weights(self, target_means: Sequence[float] | np.ndarray) -> np.ndarray:
        """Minimum-variance weights for each target mean, shape (len(target_means), n_assets)."""
        targets = np.atleast_1d(np.asarray(target_means, dtype=np.float64))
        n = self.asset_means.size
        rhs = np.zeros((n + 2, targets.size))
        rhs[n] = targets
        rhs[n + 1] = 1.0
        return np.linalg.solve(self._kkt, rhs)[:n].T

    def volatility(self, target_means: Sequence[float] | np.ndarray) -> np.ndarray:
        """Frontier volatility at each target mean."""
        w = self.weights(target_means)
        variance = np.einsum("ki,ij,kj->k", w, self.covariance, w)
        return np.sqrt(np.maximum(variance, 0.0))

    def portfolios(self, n_portfolios: int = 15,
                   mean_range: tuple[float, float] | None = None) -> Portfolios:
        """``n_portfolios`` efficient portfolios with means equally spaced over ``mean_range``.

        The default range runs from the minimum-variance mean to the highest asset mean.
        """
        if isinstance(n_portfolios, bool) or int(n_portfolios) != n_portfolios or n_portfolios < 1:
            raise ValueError(f"n_portfolios must be an integer >= 1, got {n_portfolios!r}")
        n_portfolios = int(n_portfolios)
        if mean_range is None:
            mean_range = (self.min_mean, float(self.asset_means.max()))
        bounds = as_float_sequence(mean_range, "mean_range")
        if bounds.size != 2:
            raise ValueError(f"mean_range must be a pair (low, high), got {mean_range!r}")
        lo, hi = float(bounds[0]), float(bounds[1])
        if hi < lo:
            raise ValueError(f"mean_range must be (low, high) with low <= high, got {mean_range}")
        tolerance = 1e-9 * max(abs(self.min_mean), 1.0)
        if lo < self.min_mean - tolerance:
            raise ValueError(
                "mean_range must lie on the efficient frontier: low must be >= "
                f"{self.min_mean:.6f} (the minimum-variance portfolio's mean), got {lo}"
            )
        if n_portfolios == 1 and hi != lo:
            raise ValueError("mean_range must have low == high when n_portfolios is 1")
        means = np.linspace(lo, hi, n_portfolios)
        return Portfolios(means=means.tolist(), volatilities=self.volatility(means).tolist())


def efficient_frontier(asset_means: Sequence[float] | np.ndarray,
                       covariance: Sequence[Sequence[float]] | np.ndarray,
                       n_portfolios: int = 15,
                       mean_range: tuple[float, float] | None = None) -> Portfolios:
    """``n_portfolios`` efficient-frontier portfolios built from asset means and covariance."""
    return EfficientFrontier(asset_means, covariance).portfolios(n_portfolios, mean_range)
