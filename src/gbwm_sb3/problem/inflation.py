"""Stochastic inflation: an AR(1) yearly rate correlated with the portfolios' returns.

GBWM-SPEC section 9. The year's (log) inflation follows a discrete Vasicek process,

    pi_{t+1} = pibar + phi (pi_t - pibar) + s eps_{t+1},   eps ~ N(0, 1),

and the price level is ``P_0 = 1``, ``P_{t+1} = P_t exp(pi_{t+1})``. Portfolio returns are
nominal, and ``eps`` is correlated (``rho_j``) with portfolio ``j``'s shock of the same
year: ``Z_j = rho_j eps + sqrt(1 - rho_j^2) N`` with ``N`` the market's own normal
innovation, so each ``Z_j`` is standard normal. Goal costs and savings are stated in
today's money and paid as ``amount x P_t`` (indexed): in real terms (wealth over the price
level, ``w = W / P_t``) the plan is the problem as written, and real wealth grows by

    w_{t+1} = a_t exp(mu_j - sigma_j^2 / 2 + sigma_j Z_j - pi_{t+1}),

so the state is ``(t, w, pi_t)``: two dimensions, which :func:`gbwm_sb3.solve_dp` solves
on a two-dimensional grid. ``pi_0`` (the inflation of the year before the plan starts) is
observed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["InflationModel", "InflationError", "INFLATION_RATE_LIMIT", "INFLATION_FIELDS",
           "INFLATION_VOLATILITY_LIMIT", "inflation_from_mapping", "us_inflation",
           "us_cpi_inflation", "US_CPI_ANNUAL", "fit_inflation"]

#: The long-run and initial rates lie in ``[-INFLATION_RATE_LIMIT, INFLATION_RATE_LIMIT]``
#: (log rates: 0.5 is +65% a year) ...
INFLATION_RATE_LIMIT = 0.5
#: ... and the innovation's volatility in ``[0, INFLATION_VOLATILITY_LIMIT]``.
INFLATION_VOLATILITY_LIMIT = 0.2
#: The fields of an ``inflation`` section of a problem file.
INFLATION_FIELDS = ("mean", "persistence", "volatility", "initial", "correlation")


class InflationError(ValueError):
    """An inflation description that is not allowed: ``field`` and ``message``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"inflation.{field} {message}" if field else f"inflation {message}")


def _number(value: object, field: str, low: float, high: float, allowed: str,
            high_open: bool = False) -> float:
    refused = InflationError(field, f"must be {allowed}, got {value!r}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise refused
    number = float(value)
    if not (low <= number and (number < high if high_open else number <= high)):
        raise refused  # NaN fails too
    return number


@dataclass(frozen=True)
class InflationModel:
    """AR(1) log inflation (see the module): long-run ``mean`` pibar, ``persistence`` phi in
    [0, 1), innovation ``volatility`` s in [0, 0.2], ``initial`` rate pi_0 (default the
    mean) and ``correlation`` rho of the innovation with the portfolios' shocks: one number
    in [-1, 1], or one per portfolio."""

    mean: float = 0.025
    persistence: float = 0.6
    volatility: float = 0.015
    initial: float | None = None
    correlation: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        limit = INFLATION_RATE_LIMIT
        rate = f"a yearly log rate in [-{limit:g}, {limit:g}]"
        object.__setattr__(self, "mean", _number(self.mean, "mean", -limit, limit, rate))
        object.__setattr__(self, "persistence", _number(
            self.persistence, "persistence", 0.0, 1.0, "a number in [0, 1)", high_open=True))
        object.__setattr__(self, "volatility", _number(
            self.volatility, "volatility", 0.0, INFLATION_VOLATILITY_LIMIT,
            f"a number in [0, {INFLATION_VOLATILITY_LIMIT:g}]"))
        initial = self.mean if self.initial is None else self.initial
        object.__setattr__(self, "initial", _number(initial, "initial", -limit, limit, rate))
        correlation = self.correlation
        if isinstance(correlation, (Sequence, np.ndarray)) and not isinstance(correlation, str):
            values = list(correlation)
            if not values:
                raise InflationError("correlation", "must be a number in [-1, 1] or one per "
                                                    "portfolio, got an empty list")
            object.__setattr__(self, "correlation", tuple(
                _number(v, f"correlation[{j}]", -1.0, 1.0, "a number in [-1, 1]")
                for j, v in enumerate(values)))
        else:
            object.__setattr__(self, "correlation", _number(
                correlation, "correlation", -1.0, 1.0, "a number in [-1, 1]"))

    @property
    def initial_rate(self) -> float:
        """``pi_0`` (a float once validated)."""
        return float(self.mean if self.initial is None else self.initial)

    def correlations(self, num_portfolios: int) -> np.ndarray:
        """``rho_j`` of each of ``num_portfolios`` portfolios, shape (n,)."""
        if isinstance(self.correlation, tuple):
            if len(self.correlation) != num_portfolios:
                raise ValueError(f"inflation.correlation lists {len(self.correlation)} "
                                 f"portfolios, the problem has {num_portfolios}")
            return np.array(self.correlation, dtype=np.float64)
        return np.full(num_portfolios, float(self.correlation))

    def check_portfolios(self, num_portfolios: int) -> None:
        """Raise a ValueError unless the correlations fit ``num_portfolios`` portfolios."""
        self.correlations(num_portfolios)

    def next_rate(self, rate: np.ndarray | float, innovation: np.ndarray | float
                  ) -> np.ndarray:
        """``pi_{t+1}`` from ``pi_t`` and ``eps_{t+1}``, elementwise."""
        rate = np.asarray(rate, dtype=np.float64)
        return self.mean + self.persistence * (rate - self.mean) + self.volatility * np.asarray(
            innovation, dtype=np.float64)

    def rate_paths(self, innovations: np.ndarray) -> np.ndarray:
        """The rates ``pi_0..pi_T`` (shape (T+1, N)) from innovations ``eps_1..eps_T``
        (shape (T, N)); row 0 is ``initial``."""
        innovations = np.asarray(innovations, dtype=np.float64)
        rates = np.empty((innovations.shape[0] + 1, *innovations.shape[1:]))
        rates[0] = self.initial_rate
        for t in range(innovations.shape[0]):
            rates[t + 1] = self.next_rate(rates[t], innovations[t])
        return rates

    def expected_rates(self, horizon: int) -> np.ndarray:
        """``E[pi_t] = pibar + phi^t (pi_0 - pibar)`` for ``t = 0..horizon``, shape (T+1,)."""
        steps = np.arange(int(horizon) + 1, dtype=np.float64)
        return self.mean + self.persistence**steps * (self.initial_rate - self.mean)

    def planned_price_levels(self, horizon: int) -> np.ndarray:
        """``exp(E[pi_1] + ... + E[pi_t])`` for ``t = 0..horizon``: the price levels of a
        path on which every year's rate is its expectation (1 at ``t = 0``), shape (T+1,)."""
        rates = self.expected_rates(horizon)
        rates[0] = 0.0
        return np.exp(np.cumsum(rates))

    def stationary_moments(self) -> tuple[float, float]:
        """Mean and standard deviation of the rate in the long run."""
        return self.mean, self.volatility / math.sqrt(1.0 - self.persistence**2)

    def describe(self) -> str:
        mean, spread = self.stationary_moments()
        rho = (f"{self.correlation:+g}" if not isinstance(self.correlation, tuple)
               else "per portfolio " + ", ".join(f"{r:+g}" for r in self.correlation))
        return (f"AR(1) inflation: long-run {mean:.2%} (sd {spread:.2%}), persistence "
                f"{self.persistence:g}, innovation volatility {self.volatility:.2%}, starts at "
                f"{self.initial_rate:.2%}, correlation with returns {rho}; amounts indexed")

    def to_mapping(self) -> dict[str, Any]:
        return {"mean": self.mean, "persistence": self.persistence,
                "volatility": self.volatility, "initial": self.initial_rate,
                "correlation": (list(self.correlation) if isinstance(self.correlation, tuple)
                                else self.correlation)}


def inflation_from_mapping(data: Any) -> InflationModel:
    """The ``inflation`` section of a problem file: ``{mean, persistence, volatility,
    initial, correlation}`` (every field optional)."""
    if not isinstance(data, dict):
        raise InflationError("", "must be a mapping with fields "
                                 f"{', '.join(INFLATION_FIELDS)}, got {data!r}")
    for key in data:
        if key not in INFLATION_FIELDS:
            raise InflationError(str(key), f"is not a field of inflation (its fields: "
                                           f"{', '.join(INFLATION_FIELDS)})")
    return InflationModel(**data)


def us_inflation() -> InflationModel:
    """An illustrative AR(1) of US yearly CPI inflation: long-run 2.5%, persistence 0.6,
    innovation volatility 1.5% (a long-run standard deviation of 1.9%), uncorrelated with
    returns. Round numbers of the size that AR(1) fits to annual US CPI inflation since the
    1980s give (persistence about 0.5-0.7, innovation about 1-2%), not a fit."""
    return InflationModel(mean=0.025, persistence=0.6, volatility=0.015, correlation=0.0)


#: US consumer prices, the yearly average of the quarterly CPI (all urban consumers,
#: 1982-84 = 100), 1959-2008: from ``statsmodels.datasets.macrodata`` (FRED, Federal
#: Reserve Bank of St. Louis, accessed 15 Dec 2009; public domain), the mean of each
#: year's four quarters (exact: the quarters have three decimals). Year ``1959 + i`` is
#: entry ``i``.
US_CPI_ANNUAL: tuple[float, ...] = (
    29.2125, 29.67, 29.9375, 30.3125, 30.715, 31.0925, 31.6225, 32.62, 33.575, 35.075,
    37.075, 39.175, 40.7, 42.05, 45.075, 50.175, 54.425, 57.425, 61.275, 66.25,
    74.2, 83.85, 92.1, 97.125, 100.375, 104.55, 108.275, 109.95, 114.375, 119.2,
    125.125, 131.875, 136.7, 141.1, 145.05, 148.875, 153.15, 157.675, 160.95, 163.5,
    167.5, 173.275, 177.275, 180.775, 184.525, 189.775, 196.775, 202.2185, 208.7215,
    215.4175)


def fit_inflation(rates: Sequence[float] | np.ndarray, correlation: float = 0.0
                  ) -> InflationModel:
    """The AR(1) of a series of yearly log inflation rates (``log(P_t / P_{t-1})``, at
    least 5), fitted by least squares: ``pi_{t+1} = a + phi pi_t + s eps``; ``mean =
    a / (1 - phi)``, ``volatility`` the residuals' standard deviation (two parameters
    fitted), ``initial`` the last rate. ``correlation`` with returns is not estimated
    from a price series: give it. Raises an :class:`InflationError` when the series is
    too short or the fit leaves the model's ranges (a persistence of 1 or more: no long-run
    mean)."""
    values = np.asarray(rates, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] < 5 or not np.all(np.isfinite(values)):
        raise InflationError("", f"fit needs at least 5 finite yearly rates, got "
                                 f"{values.shape[0] if values.ndim == 1 else values.shape}")
    before, after = values[:-1], values[1:]
    design = np.column_stack([np.ones_like(before), before])
    (intercept, persistence), *_ = np.linalg.lstsq(design, after, rcond=None)
    if not 0.0 <= persistence < 1.0:
        raise InflationError("persistence", f"fitted as {persistence:.4g}: the series has no "
                                            "stationary AR(1) in [0, 1)")
    residuals = after - design @ np.array([intercept, persistence])
    return InflationModel(mean=float(intercept / (1.0 - persistence)),
                          persistence=float(persistence),
                          volatility=float(residuals.std(ddof=2)),
                          initial=float(values[-1]), correlation=correlation)


def us_cpi_inflation(correlation: float = 0.0) -> InflationModel:
    """The AR(1) fitted to US yearly CPI inflation 1960-2008 (:data:`US_CPI_ANNUAL`, log
    changes of the yearly average; :func:`fit_inflation`): long-run 4.28%, persistence
    0.819, innovation volatility 1.52% (a long-run standard deviation of 2.65%), starting
    at 2008's 3.16%. The period includes the high inflation of the 1970s; ``correlation``
    with returns is not in a price series: give it (0 by default)."""
    rates = np.diff(np.log(np.array(US_CPI_ANNUAL)))
    return fit_inflation(rates, correlation)
