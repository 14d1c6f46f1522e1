"""A market whose yearly shock has the shape of a table of historical yearly returns.

Give the yearly returns of a reference series (a broad equity index, say: ``0.12`` for a
year of +12%). Their log-returns ``y_k = log(1 + R_k)`` are standardised to mean 0 and
variance 1, ``x_k = (y_k - mean(y)) / std(y)``, and the year's shock is a smoothed
bootstrap of them:

    Z = a x_K + b N,   K uniform on the K rows,  N ~ N(0, 1),  a = sqrt(1 - b^2),

so ``Z`` has mean 0 and variance 1 and keeps the skew and the fat tails of the table (its
crashes stay crashes), while each portfolio keeps the problem's mean and volatility:
portfolio ``j`` grows wealth by ``exp(mu_j - sigma_j^2 / 2 + sigma_j Z)``. The bandwidth
``b`` (default Silverman's rule for a unit-variance sample, ``0.9 K^(-1/5)``, 0.36 for 96
years) makes the law smooth, which the exact dynamic programme needs (its kernels are
differences of the law's distribution function, a mixture of normal ones here), and
stands for the years the table has not seen. One series drives every portfolio: a
bootstrap of multi-asset rows, with portfolios as asset weights and a law of their own
each, is a different model, not this one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gbwm_sb3.problem.market import MARKET_MODELS, Market, MarketError, describe_value

__all__ = ["EmpiricalMarket", "MIN_RETURN_ROWS", "MAX_RETURN_ROWS"]

#: A table has at least this many yearly returns ...
MIN_RETURN_ROWS = 10
#: ... and at most this many.
MAX_RETURN_ROWS = 10_000
_SQRT_2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class EmpiricalMarket(Market):
    """Smoothed bootstrap of standardised historical yearly log-returns (see the module).

    - ``returns``: 10 to 10,000 yearly simple returns, each above -1 (a year of -100% has
      no log-return), not all equal;
    - ``bandwidth``: ``b`` in (0, 1); default ``0.9 K^(-1/5)``;
    - ``source``: where the table comes from, for people (kept in problem files).
    """

    model: ClassVar[str] = "empirical"
    returns: tuple[float, ...]
    bandwidth: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        values = self.returns
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise MarketError("returns", f"must be a list of yearly returns, got "
                                         f"{describe_value(values)}")
        rows = list(values)
        if not MIN_RETURN_ROWS <= len(rows) <= MAX_RETURN_ROWS:
            raise MarketError("returns", f"must hold {MIN_RETURN_ROWS} to {MAX_RETURN_ROWS:,} "
                                         f"yearly returns, got {len(rows)}")
        clean = []
        for k, value in enumerate(rows):
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                    value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(value)) or float(value) <= -1.0:
                raise MarketError(f"returns[{k}]", f"must be a yearly return above -1 (0.12 "
                                                   f"for +12%), got {describe_value(value)}")
            clean.append(float(value))
        logs = np.log1p(np.array(clean))
        if float(logs.std()) <= 1e-12 * max(1.0, float(np.abs(logs).max())):
            raise MarketError("returns", "must not all be equal (they give the law's shape)")
        object.__setattr__(self, "returns", tuple(clean))
        default = 0.9 * len(clean) ** -0.2
        bandwidth = default if self.bandwidth is None else self.bandwidth
        refused = MarketError("bandwidth", f"must be a number in (0, 1), got "
                                           f"{describe_value(bandwidth)}")
        if isinstance(bandwidth, (bool, np.bool_)) or not isinstance(
                bandwidth, (int, float, np.integer, np.floating)):
            raise refused
        if not 0.0 < float(bandwidth) < 1.0:
            raise refused
        object.__setattr__(self, "bandwidth", float(bandwidth))
        if not isinstance(self.source, str):
            raise MarketError("source", f"must be a string, got {describe_value(self.source)}")

    # ----- the law: a mixture of normals N(a x_k, b^2) with equal weights -----
    @property
    def points(self) -> np.ndarray:
        """The mixture's centres ``a x_k`` (sorted)."""
        logs = np.log1p(np.array(self.returns))
        standard = (logs - logs.mean()) / logs.std()
        return np.sort(standard) * math.sqrt(1.0 - self.width**2)

    @property
    def width(self) -> float:
        """The bandwidth ``b`` (a float once validated)."""
        return float(self.bandwidth or 0.0)

    def _standard(self, z: np.ndarray | float) -> np.ndarray:
        """``(z - a x_k) / b`` for every ``z`` (rows) and centre (columns)."""
        z = np.asarray(z, dtype=np.float64)
        return (z[..., None] - self.points) / self.width

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        from scipy.special import ndtr

        return ndtr(self._standard(z)).mean(axis=-1)

    def survival(self, z: np.ndarray | float) -> np.ndarray:
        from scipy.special import ndtr

        return ndtr(-self._standard(z)).mean(axis=-1)

    @property
    def symmetric(self) -> bool:
        return False

    def pdf(self, z: np.ndarray | float) -> np.ndarray:
        u = self._standard(z)
        with np.errstate(over="ignore"):
            return (np.exp(-0.5 * u * u) / _SQRT_2PI).mean(axis=-1) / self.width

    def upper_mean(self, z: np.ndarray | float) -> np.ndarray:
        """``E[Z 1{Z > z}] = mean_k [a x_k P(N > u_k) + b phi(u_k)]``, ``u_k = (z - a x_k)/b``."""
        from scipy.special import ndtr

        u = self._standard(z)
        with np.errstate(over="ignore"):
            density = np.exp(-0.5 * u * u) / _SQRT_2PI
        return (self.points * ndtr(-u) + self.width * density).mean(axis=-1)

    def tail_quantile(self, normal_sigmas: float) -> float:
        """The ``q`` with ``max(P(Z > q), P(Z < -q)) = P(N > normal_sigmas)``."""
        from scipy.optimize import brentq
        from scipy.special import ndtr

        mass = float(ndtr(-float(normal_sigmas)))
        high = float(np.abs(self.points).max()) + 40.0 * self.width

        def excess(q: float) -> float:
            return float(max(self.survival(q), self.cdf(-q))) - mass

        return float(brentq(excess, 0.0, high)) if excess(0.0) > 0.0 else 0.0

    def draw_shocks(self, rng: np.random.Generator, shape: int | tuple[int, ...]
                    ) -> np.ndarray:
        rows = rng.integers(0, len(self.returns), size=shape)
        return self.points[rows] + self.width * rng.standard_normal(shape)

    def draw_shock(self, rng: np.random.Generator) -> float:
        return float(self.draw_shocks(rng, 1)[0])

    def describe(self) -> str:
        logs = np.log1p(np.array(self.returns))
        standard = (logs - logs.mean()) / logs.std()
        skew, kurtosis = float((standard**3).mean()), float((standard**4).mean())
        origin = f" ({self.source})" if self.source else ""
        return (f"empirical: smoothed bootstrap of {len(self.returns)} yearly returns{origin}, "
                f"skewness {skew:+.2f}, kurtosis {kurtosis:.2f}, bandwidth {self.width:.3g}")

    def to_mapping(self) -> dict[str, Any]:
        mapping: dict[str, Any] = {"model": self.model, "returns": list(self.returns),
                                   "bandwidth": self.width}
        if self.source:
            mapping["source"] = self.source
        return mapping


MARKET_MODELS[EmpiricalMarket.model] = (EmpiricalMarket, ("returns",), ("bandwidth", "source"))
