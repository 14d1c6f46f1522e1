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
stands for the years the table has not seen. One series drives every portfolio.

**Multi-asset rows** (``weights`` given): ``returns`` is a table of yearly returns of
several assets (one row a year, one column an asset) and ``weights[j]`` portfolio ``j``'s
asset weights (summing to 1). Portfolio ``j``'s yearly log-return in row ``k`` is
``y_jk = log(sum_a w_ja (1 + R_ka))``; standardised as above, ``x_jk``, and smoothed with
the same bandwidth, it is portfolio ``j``'s own law (:meth:`EmpiricalMarket.portfolio_law`),
with its own skew and tails: a bond-heavy portfolio keeps the bonds' shape, an equity
one the crashes. Each portfolio again keeps the problem's mean and volatility
(:meth:`EmpiricalMarket.table_portfolios` gives the table's own: ``sigma_j`` the
log-returns' standard deviation, ``mu_j = mean(y_j) + sigma_j^2 / 2``). As only one
portfolio is held in a year, only each portfolio's law matters to any plan (not how the
portfolios' shocks move together), so the simulators draw one standard normal ``N`` a
year and read portfolio ``j``'s shock from it exactly in its own law
(:func:`mixture_components`: ``Phi(N)`` picks a component of the mixture, the rest of it
the normal draw within the component), and the DP integrates each portfolio against its
own law.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from gbwm_sb3.problem.market import MARKET_MODELS, Market, MarketError, describe_value

__all__ = ["EmpiricalMarket", "MIN_RETURN_ROWS", "MAX_RETURN_ROWS", "MAX_ASSETS",
           "mixture_components"]

#: A table has at least this many yearly returns ...
MIN_RETURN_ROWS = 10
#: ... and at most this many.
MAX_RETURN_ROWS = 10_000
#: A multi-asset table has at most this many assets (columns).
MAX_ASSETS = 100
_SQRT_2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class EmpiricalMarket(Market):
    """Smoothed bootstrap of standardised historical yearly log-returns (see the module).

    - ``returns``: 10 to 10,000 yearly simple returns, each above -1 (a year of -100% has
      no log-return), not all equal; with ``weights``, 10 to 10,000 rows of the yearly
      returns of 1 to 100 assets (each row as long as the first);
    - ``bandwidth``: ``b`` in (0, 1); default ``0.9 K^(-1/5)``;
    - ``source``: where the table comes from, for people (kept in problem files);
    - ``weights`` (multi-asset rows): one list of asset weights per portfolio, each
      weight in [0, 1] and each list summing to 1 (the problem's portfolios, in order).
    """

    model: ClassVar[str] = "empirical"
    returns: tuple[float, ...] | tuple[tuple[float, ...], ...]
    bandwidth: float | None = None
    source: str = ""
    weights: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        values = self.returns
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise MarketError("returns", f"must be a list of yearly returns, got "
                                         f"{describe_value(values)}")
        rows = list(values)
        if not MIN_RETURN_ROWS <= len(rows) <= MAX_RETURN_ROWS:
            raise MarketError("returns", f"must hold {MIN_RETURN_ROWS} to {MAX_RETURN_ROWS:,} "
                                         f"yearly returns, got {len(rows)}")
        if self.weights is None:
            clean: tuple[Any, ...] = tuple(_yearly_return(v, f"returns[{k}]")
                                           for k, v in enumerate(rows))
            if _constant(np.log1p(np.array(clean))):
                raise MarketError("returns", "must not all be equal (they give the law's "
                                             "shape)")
        else:
            clean = _asset_rows(rows)
            object.__setattr__(self, "weights", _portfolio_weights(self.weights, len(clean[0])))
            for j, series in enumerate(self._portfolio_log_returns(clean)):
                if _constant(series):
                    raise MarketError(f"weights[{j}]", "give a portfolio whose yearly "
                                                       "returns are not all equal")
        object.__setattr__(self, "returns", clean)
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

    # ----- multi-asset rows: one law per portfolio -----
    @property
    def per_portfolio(self) -> bool:
        """Whether each portfolio has a law of its own (multi-asset rows)."""
        return self.weights is not None

    def _portfolio_log_returns(self, rows: tuple[Any, ...] | None = None) -> np.ndarray:
        """(portfolios, rows): ``y_jk = log(sum_a w_ja (1 + R_ka))``."""
        assert self.weights is not None
        table = np.array(self.returns if rows is None else rows, dtype=np.float64)
        return np.log(np.array(self.weights) @ (1.0 + table).T)

    def portfolio_law(self, j: int) -> Market:
        """Portfolio ``j``'s law of the shock: the one-series market of its yearly returns
        with the same bandwidth (the market itself without ``weights``)."""
        if self.weights is None:
            return self
        return _portfolio_laws(self)[int(j)]

    def check_portfolios(self, portfolios: Any) -> None:
        if self.weights is not None and len(self.weights) != len(portfolios):
            raise MarketError("weights", f"lists {len(self.weights)} portfolios, the problem "
                                         f"has {len(portfolios)}")

    def table_portfolios(self) -> Any:
        """The table's own portfolio moments (multi-asset rows): volatility the standard
        deviation of each portfolio's yearly log-returns, mean ``mean + volatility^2 / 2``
        (so ``mu - sigma^2 / 2`` is their mean), as :class:`~gbwm_sb3.problem.model.Portfolios`."""
        from gbwm_sb3.problem.model import Portfolios

        if self.weights is None:
            raise MarketError("weights", "are needed for the table's portfolios (a one-series "
                                         "table drives the problem's own portfolios)")
        logs = self._portfolio_log_returns()
        sigma = logs.std(axis=1)
        return Portfolios(means=(logs.mean(axis=1) + sigma**2 / 2).tolist(),
                          volatilities=sigma.tolist())

    def bootstrap_centres(self) -> np.ndarray | None:
        """Each portfolio's mixture centres ``a x_jk``, sorted, shape (portfolios, rows)
        (multi-asset rows; None otherwise): with the bandwidth, what the simulators read
        the common normal draw through (:func:`mixture_components`)."""
        if self.weights is None:
            return None
        return np.array([law.points for law in _portfolio_laws(self)])

    # ----- the law: a mixture of normals N(a x_k, b^2) with equal weights -----
    @property
    def points(self) -> np.ndarray:
        """The mixture's centres ``a x_k`` (sorted; one series: the market's law, or the
        law of the common normal draw with multi-asset rows, see :meth:`portfolio_law`)."""
        if self.weights is not None:
            raise MarketError("weights", "give each portfolio its own law: use "
                                         "portfolio_law(j)")
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

        if self.weights is not None:  # the common normal draw
            return ndtr(np.asarray(z, dtype=np.float64))
        return ndtr(self._standard(z)).mean(axis=-1)

    def survival(self, z: np.ndarray | float) -> np.ndarray:
        from scipy.special import ndtr

        if self.weights is not None:
            return ndtr(-np.asarray(z, dtype=np.float64))
        return ndtr(-self._standard(z)).mean(axis=-1)

    @property
    def symmetric(self) -> bool:
        return self.weights is not None

    def pdf(self, z: np.ndarray | float) -> np.ndarray:
        if self.weights is not None:
            z = np.asarray(z, dtype=np.float64)
            return np.exp(-0.5 * z * z) / _SQRT_2PI
        u = self._standard(z)
        with np.errstate(over="ignore"):
            return (np.exp(-0.5 * u * u) / _SQRT_2PI).mean(axis=-1) / self.width

    def upper_mean(self, z: np.ndarray | float) -> np.ndarray:
        """``E[Z 1{Z > z}] = mean_k [a x_k P(N > u_k) + b phi(u_k)]``, ``u_k = (z - a x_k)/b``."""
        from scipy.special import ndtr

        if self.weights is not None:
            return self.pdf(z)
        u = self._standard(z)
        with np.errstate(over="ignore"):
            density = np.exp(-0.5 * u * u) / _SQRT_2PI
        return (self.points * ndtr(-u) + self.width * density).mean(axis=-1)

    def tail_quantile(self, normal_sigmas: float) -> float:
        """The ``q`` with ``max(P(Z > q), P(Z < -q)) = P(N > normal_sigmas)``."""
        from scipy.optimize import brentq
        from scipy.special import ndtr

        if self.weights is not None:
            return float(normal_sigmas)
        mass = float(ndtr(-float(normal_sigmas)))
        high = float(np.abs(self.points).max()) + 40.0 * self.width

        def excess(q: float) -> float:
            return float(max(self.survival(q), self.cdf(-q))) - mass

        return float(brentq(excess, 0.0, high)) if excess(0.0) > 0.0 else 0.0

    def draw_shocks(self, rng: np.random.Generator, shape: int | tuple[int, ...]
                    ) -> np.ndarray:
        """Draws of ``Z``: a row and a normal each; with multi-asset rows the common
        standard normal draw, which each portfolio reads through its shock map."""
        if self.weights is not None:
            return rng.standard_normal(shape)
        rows = rng.integers(0, len(self.returns), size=shape)
        return self.points[rows] + self.width * rng.standard_normal(shape)

    def draw_shock(self, rng: np.random.Generator) -> float:
        return float(self.draw_shocks(rng, 1)[0])

    def describe(self) -> str:
        origin = f" ({self.source})" if self.source else ""
        if self.weights is not None:
            shapes = []
            for series in self._portfolio_log_returns():
                standard = (series - series.mean()) / series.std()
                shapes.append(float((standard**3).mean()))
            return (f"empirical: smoothed bootstrap of {len(self.returns)} yearly rows of "
                    f"{np.shape(self.returns)[1]} assets{origin}, {len(self.weights)} "
                    f"portfolios by asset weights, skewness {min(shapes):+.2f} to "
                    f"{max(shapes):+.2f}, bandwidth {self.width:.3g}")
        logs = np.log1p(np.array(self.returns))
        standard = (logs - logs.mean()) / logs.std()
        skew, kurtosis = float((standard**3).mean()), float((standard**4).mean())
        return (f"empirical: smoothed bootstrap of {len(self.returns)} yearly returns{origin}, "
                f"skewness {skew:+.2f}, kurtosis {kurtosis:.2f}, bandwidth {self.width:.3g}")

    def to_mapping(self) -> dict[str, Any]:
        returns = np.asarray(self.returns).tolist()
        mapping: dict[str, Any] = {"model": self.model, "returns": returns,
                                   "bandwidth": self.width}
        if self.source:
            mapping["source"] = self.source
        if self.weights is not None:
            mapping["weights"] = [list(w) for w in self.weights]
        return mapping


def _yearly_return(value: object, field: str) -> float:
    """One yearly simple return: a finite number above -1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or float(value) <= -1.0:
        raise MarketError(field, f"must be a yearly return above -1 (0.12 for +12%), got "
                                 f"{describe_value(value)}")
    return float(value)


def _constant(logs: np.ndarray) -> bool:
    """Whether the log-returns are all equal (no shape to give a law)."""
    return float(logs.std()) <= 1e-12 * max(1.0, float(np.abs(logs).max()))


def _asset_rows(rows: list[Any]) -> tuple[tuple[float, ...], ...]:
    """``returns`` of multi-asset rows: each a list of 1..MAX_ASSETS yearly returns, all of
    the first row's length."""
    width = None
    clean = []
    for k, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, (Sequence, np.ndarray)):
            raise MarketError(f"returns[{k}]", f"must be a row of the assets' yearly returns "
                                               f"(with weights), got {describe_value(row)}")
        values = list(row)
        width = len(values) if width is None else width
        if not 1 <= len(values) <= MAX_ASSETS or len(values) != width:
            raise MarketError(f"returns[{k}]", f"must hold one return per asset ({width} as "
                                               f"the first row, at most {MAX_ASSETS}), got "
                                               f"{len(values)}")
        clean.append(tuple(_yearly_return(v, f"returns[{k}][{a}]")
                           for a, v in enumerate(values)))
    return tuple(clean)


def _portfolio_weights(weights: object, assets: int) -> tuple[tuple[float, ...], ...]:
    """``weights``: per portfolio, ``assets`` weights in [0, 1] summing to 1."""
    if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)) \
            or not len(weights):
        raise MarketError("weights", f"must be a list of portfolios' asset weights, got "
                                     f"{describe_value(weights)}")
    checked = []
    for j, row in enumerate(weights):
        if isinstance(row, (str, bytes)) or not isinstance(row, (Sequence, np.ndarray)) \
                or len(row) != assets:
            raise MarketError(f"weights[{j}]", f"must list {assets} asset weights (one per "
                                               f"column of returns), got {describe_value(row)}")
        values = []
        for a, w in enumerate(row):
            if isinstance(w, (bool, np.bool_)) or not isinstance(
                    w, (int, float, np.integer, np.floating)) or not 0.0 <= float(w) <= 1.0:
                raise MarketError(f"weights[{j}][{a}]", f"must be a number in [0, 1], got "
                                                        f"{describe_value(w)}")
            values.append(float(w))
        if abs(sum(values) - 1.0) > 1e-9:
            raise MarketError(f"weights[{j}]", f"must sum to 1, got {sum(values):.12g}")
        checked.append(tuple(values))
    return tuple(checked)


@lru_cache(maxsize=32)
def _portfolio_laws(market: EmpiricalMarket) -> tuple[EmpiricalMarket, ...]:
    """Each portfolio's one-series law (multi-asset rows), with the market's bandwidth."""
    source = market.source or "multi-asset rows"
    return tuple(EmpiricalMarket(tuple(np.expm1(series).tolist()), market.width,
                                 f"{source}, portfolio {j}")
                 for j, series in enumerate(market._portfolio_log_returns()))


def mixture_components(normal: np.ndarray, count: np.ndarray | int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Read a draw of a mixture of ``count`` normals ``N(c_k, b^2)`` with equal weights
    (sorted centres) from standard normal draws ``normal``, exactly: ``Phi(N) count``
    picks component ``k`` and leaves ``V`` uniform on [0, 1), and the draw is
    ``c_k + b Phi^{-1}(V)``. Returns ``(k, Phi^{-1}(V))``; the upper half is read from
    ``Phi(-N)``, so the far tails keep their precision. (Any standard normal gives the
    mixture's law; one ``N`` for every portfolio couples them, which no plan can tell from
    any other coupling since it holds one portfolio a year.)"""
    from scipy.special import ndtr, ndtri

    lower = normal <= 0.0
    scaled = ndtr(-np.abs(normal)) * count  # the tail mass beyond N, in components
    index = np.minimum(np.floor(scaled), np.asarray(count) - 1)
    # V is resolved to 2^-53 (a uniform's resolution): where it rounds to 0 exactly, the
    # draw is the component's quantile at that resolution, not an infinite one
    within = ndtri(np.clip(scaled - index, 2.0**-53, 1.0 - 2.0**-53))
    component = np.where(lower, index, np.asarray(count) - 1 - index).astype(np.intp)
    return component, np.where(lower, within, -within)


MARKET_MODELS[EmpiricalMarket.model] = (EmpiricalMarket, ("returns",),
                                        ("bandwidth", "source", "weights"))
