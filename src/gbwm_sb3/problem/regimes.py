"""A market that switches between observed regimes (calm, stressed, ...) by a Markov chain.

The regime of year ``t`` is known at the start of the year (it is state the investor
observes, as wealth); the year's returns use that regime's moments; next year's regime
follows the row of the transition matrix ``P[r]``, independent of the returns. In regime
``r`` portfolio ``j`` grows wealth by

    exp(mu_rj - sigma_rj^2 / 2 + sigma_rj N),   N ~ N(0, 1),

with the regime's moments given in one of two ways:

* **per regime, per portfolio** (``portfolios``): the same portfolio weights with other
  moments, one ``(means, volatilities)`` list per regime, as a regime model of the asset
  classes gives them;
* **by one market factor** (``shock_means``, ``shock_volatilities``): the year's
  standardised shock is ``Z = m_r + s_r N``, so that ``sigma_rj = sigma_j s_r`` and the
  log-drift is ``mu_j - sigma_j^2 / 2 + sigma_j m_r``, with ``(mu_j, sigma_j)`` the
  problem's portfolios. A portfolio's exposure to the regime is then its volatility: a
  stressed regime with ``m_r = -1.2`` takes about 24% of log-return from an equity
  portfolio (sigma 20%) and 5% from a bond portfolio (sigma 4%).

The dynamic programme keeps one value function per regime (:func:`gbwm_sb3.solve_dp`), the
simulators carry the regime (the year's draw is the innovation ``N``; the year kernel
reads the regime's moments) and the policies see it.

The preset :func:`two_regime_us_market` is of the factor form, normalised so that the
long-run (stationary) shock has mean 0 and variance 1: a portfolio's one-year return then
has the problem's ``(mu_j, sigma_j)`` in the long run, and the regimes change how the risk
is spread over time, not how large it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gbwm_sb3.problem.market import (
    MARKET_MODELS,
    LognormalMarket,
    Market,
    MarketError,
    describe_value,
)
from gbwm_sb3.problem.model import Portfolios

__all__ = ["RegimeMarket", "MAX_REGIMES", "SHOCK_MEAN_LIMIT", "SHOCK_VOLATILITY_LIMIT",
           "two_regime_us_market"]

#: At most this many regimes.
MAX_REGIMES = 8
#: A regime's shock mean ``m_r`` lies in ``[-SHOCK_MEAN_LIMIT, SHOCK_MEAN_LIMIT]`` ...
SHOCK_MEAN_LIMIT = 5.0
#: ... and its volatility ``s_r`` in ``(0, SHOCK_VOLATILITY_LIMIT]``.
SHOCK_VOLATILITY_LIMIT = 5.0
_ROW_TOLERANCE = 1e-6
_NORMAL = LognormalMarket()


def _number(value: object, field: str, allowed: str, low: float, high: float,
            low_open: bool = False) -> float:
    """``value`` as a float in the range, else a :class:`MarketError` naming ``field``."""
    refused = MarketError(field, f"must be {allowed}, got {describe_value(value)}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise refused
    number = float(value)
    inside = (low < number if low_open else low <= number) and number <= high
    if not inside:  # NaN fails too
        raise refused
    return number


def _sequence(value: object, field: str, what: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise MarketError(field, f"must be a list of {what}, got {describe_value(value)}")
    return list(value)


@dataclass(frozen=True)
class RegimeMarket(Market):
    """Observed market regimes moving by the Markov ``transition`` matrix; each regime's
    portfolio moments given per portfolio (``portfolios``) or by one market factor
    (``shock_means`` and ``shock_volatilities``; see the module).

    - ``transition``: ``R x R`` (2 <= R <= 8), row ``r`` the probabilities of next year's
      regime given this year's; rows sum to 1 (within 1e-6, then renormalised);
    - ``portfolios``: one :class:`~gbwm_sb3.problem.model.Portfolios` (or a
      ``(means, volatilities)`` pair) per regime, as many portfolios as the problem's;
    - ``shock_means``: ``m_r`` in [-5, 5], in units of each portfolio's volatility;
    - ``shock_volatilities``: ``s_r`` in (0, 5];
    - ``names``: one name per regime (default ``regime 0``, ``regime 1``, ...);
    - ``initial_regime``: the regime of year 0, an index or a name (default 0).
    """

    model: ClassVar[str] = "regimes"
    transition: tuple[tuple[float, ...], ...]
    shock_means: tuple[float, ...] | None = None
    shock_volatilities: tuple[float, ...] | None = None
    portfolios: tuple[Portfolios, ...] | None = None
    names: tuple[str, ...] = ()
    initial_regime: int | str = 0

    def __post_init__(self) -> None:
        rows = _sequence(self.transition, "transition", "rows (one per regime)")
        count = len(rows)
        if not 2 <= count <= MAX_REGIMES:
            raise MarketError("transition", f"must have 2 to {MAX_REGIMES} rows (one per "
                                            f"regime), got {count}")
        matrix = []
        for r, row in enumerate(rows):
            entries = _sequence(row, f"transition[{r}]", "probabilities")
            if len(entries) != count:
                raise MarketError(f"transition[{r}]", f"must have {count} entries (a square "
                                                      f"matrix), got {len(entries)}")
            values = [_number(p, f"transition[{r}][{c}]", "a probability in [0, 1]", 0.0, 1.0)
                      for c, p in enumerate(entries)]
            total = math.fsum(values)
            if abs(total - 1.0) > _ROW_TOLERANCE:
                raise MarketError(f"transition[{r}]", f"must sum to 1 (the probabilities of "
                                                      f"next year's regime), got {total:.8g}")
            matrix.append(tuple(v / total for v in values))
        object.__setattr__(self, "transition", tuple(matrix))
        factor = self.shock_means is not None or self.shock_volatilities is not None
        if factor == (self.portfolios is not None):
            raise MarketError("portfolios", "give each regime's moments either as portfolios "
                                            "(one list per regime) or as shock_means and "
                                            "shock_volatilities (one market factor), not "
                                            + ("both" if factor else "neither"))
        if factor:
            self._check_factor(count)
        else:
            self._check_portfolios(count)
        names = self.names if self.names != () else tuple(f"regime {r}" for r in range(count))
        entries = _sequence(names, "names", "strings, one per regime")
        if len(entries) != count or not all(isinstance(n, str) and n.strip() for n in entries):
            raise MarketError("names", f"must be {count} non-empty strings (one per regime), "
                                       f"got {describe_value(names)}")
        if len(set(entries)) != count:
            raise MarketError("names", f"must be distinct, got {describe_value(names)}")
        object.__setattr__(self, "names", tuple(entries))
        initial = self.initial_regime
        if isinstance(initial, str) and initial in self.names:
            initial = self.names.index(initial)
        if isinstance(initial, (bool, np.bool_)) or not isinstance(initial, (int, np.integer)) \
                or not 0 <= initial < count:
            raise MarketError("initial_regime", f"must be a regime index in 0..{count - 1} or "
                                                f"one of the names {list(self.names)}, got "
                                                f"{describe_value(initial)}")
        object.__setattr__(self, "initial_regime", int(initial))

    def _check_factor(self, count: int) -> None:
        for field_name, allowed, low, high, low_open in (
                ("shock_means", f"a number in [-{SHOCK_MEAN_LIMIT:g}, {SHOCK_MEAN_LIMIT:g}]",
                 -SHOCK_MEAN_LIMIT, SHOCK_MEAN_LIMIT, False),
                ("shock_volatilities", f"a number in (0, {SHOCK_VOLATILITY_LIMIT:g}]", 0.0,
                 SHOCK_VOLATILITY_LIMIT, True)):
            value = getattr(self, field_name)
            if value is None:
                raise MarketError(field_name, "is missing (the factor form needs shock_means "
                                              "and shock_volatilities)")
            entries = _sequence(value, field_name, "numbers, one per regime")
            if len(entries) != count:
                raise MarketError(field_name, f"must have one entry per regime ({count}), got "
                                              f"{len(entries)}")
            object.__setattr__(self, field_name, tuple(
                _number(v, f"{field_name}[{r}]", allowed, low, high, low_open)
                for r, v in enumerate(entries)))

    def _check_portfolios(self, count: int) -> None:
        entries = _sequence(self.portfolios, "portfolios", "portfolio lists, one per regime")
        if len(entries) != count:
            raise MarketError("portfolios", f"must have one entry per regime ({count}), got "
                                            f"{len(entries)}")
        checked = []
        for r, entry in enumerate(entries):
            if isinstance(entry, Mapping):
                extra = sorted(set(map(str, entry)) - {"means", "volatilities"})
                if extra or len(entry) != 2:
                    raise MarketError(f"portfolios[{r}]", "must have the fields means and "
                                                          "volatilities, got "
                                                          f"{describe_value(sorted(entry))}")
                entry = (entry["means"], entry["volatilities"])
            if not isinstance(entry, Portfolios):
                pair = _sequence(entry, f"portfolios[{r}]", "(means, volatilities)")
                if len(pair) != 2:
                    raise MarketError(f"portfolios[{r}]", "must be Portfolios or a pair "
                                                          f"(means, volatilities), got "
                                                          f"{describe_value(entry)}")
                try:
                    entry = Portfolios(means=pair[0], volatilities=pair[1])
                except (TypeError, ValueError) as exc:
                    raise MarketError(f"portfolios[{r}]", str(exc)) from None
            checked.append(entry)
        sizes = {len(p) for p in checked}
        if len(sizes) != 1:
            raise MarketError("portfolios", f"must list the same number of portfolios in "
                                            f"every regime, got {[len(p) for p in checked]}")
        object.__setattr__(self, "portfolios", tuple(checked))

    def check_portfolios(self, portfolios: Any) -> None:
        if self.portfolios is not None and len(self.portfolios[0]) != len(portfolios):
            raise ValueError(f"market: each regime lists {len(self.portfolios[0])} portfolios, "
                             f"the problem has {len(portfolios)} (portfolios)")

    # ----- the moments -----
    def regime_moments(self, portfolios: Portfolios) -> tuple[np.ndarray, np.ndarray]:
        """Each regime's log-drifts ``mu_rj - sigma_rj^2 / 2`` and volatilities
        ``sigma_rj``, (R, n) each, for a problem whose portfolios are ``portfolios`` (the
        factor form reads their moments; the per-regime form must list as many)."""
        if self.portfolios is None:
            means = np.asarray(self.shock_means, dtype=np.float64)[:, None]
            scales = np.asarray(self.shock_volatilities, dtype=np.float64)[:, None]
            sigma = portfolios.volatility_array[None, :]
            return portfolios.log_drifts[None, :] + sigma * means, sigma * scales
        if len(self.portfolios[0]) != len(portfolios):
            raise ValueError(f"market: each regime lists {len(self.portfolios[0])} portfolios, "
                             f"the problem has {len(portfolios)}")
        return (np.stack([p.log_drifts for p in self.portfolios]),
                np.stack([p.volatility_array for p in self.portfolios]))

    # ----- the chain -----
    @property
    def regime_count(self) -> int:
        return len(self.transition)

    @property
    def initial_index(self) -> int:
        """The regime of year 0 as an index."""
        return int(self.initial_regime)

    @property
    def transition_matrix(self) -> np.ndarray:
        """``P`` as an (R, R) array (row: this year's regime)."""
        return np.array(self.transition, dtype=np.float64)

    def stationary_distribution(self) -> np.ndarray:
        """The long-run share of years in each regime (the left eigenvector of ``P`` for 1;
        for a chain with several closed classes, the limit from the initial regime)."""
        matrix = self.transition_matrix
        start = np.zeros(self.regime_count)
        start[self.initial_index] = 1.0
        power = np.linalg.matrix_power(matrix, 1 << 12)  # converged for any chain here
        return start @ power if not np.allclose(power, power[0]) else power[0]

    def long_run_moments(self) -> tuple[float, float]:
        """Mean and standard deviation of the factor form's shock in the long run (the
        stationary mixture of the regimes' normal laws)."""
        if self.shock_means is None or self.shock_volatilities is None:
            raise ValueError("long_run_moments: this market gives its moments per portfolio "
                             "(no market factor)")
        share = self.stationary_distribution()
        means, vols = np.array(self.shock_means), np.array(self.shock_volatilities)
        mean = float(share @ means)
        variance = float(share @ (vols**2 + means**2)) - mean**2
        return mean, math.sqrt(max(variance, 0.0))

    def regime_paths(self, uniforms: np.ndarray) -> np.ndarray:
        """Regimes of years ``0..T-1`` from uniforms in [0, 1) of shape (T, N): year 0 is
        ``initial_regime``; year ``t + 1``'s is the first ``c`` with
        ``u[t] < P[r_t, 0] + ... + P[r_t, c]`` (row ``T - 1`` of ``uniforms`` is unused)."""
        uniforms = np.asarray(uniforms, dtype=np.float64)
        regimes = np.empty(uniforms.shape, dtype=np.intp)
        if uniforms.shape[0] == 0:
            return regimes
        regimes[0] = self.initial_index
        for t in range(1, uniforms.shape[0]):
            regimes[t] = self.next_regime(regimes[t - 1], uniforms[t - 1])
        return regimes

    def next_regime(self, regime: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """Next year's regime from this year's and a uniform in [0, 1), elementwise."""
        cumulative = np.cumsum(self.transition_matrix, axis=1)
        cumulative[:, -1] = np.inf  # rounding never walks past the last regime
        regime = np.asarray(regime, dtype=np.intp)
        uniform = np.asarray(uniform, dtype=np.float64)
        return (uniform[..., None] >= cumulative[regime]).sum(axis=-1).astype(np.intp)

    # ----- the law of the within-regime innovation N (standard normal) -----
    def draw_shocks(self, rng: np.random.Generator, shape: int | tuple[int, ...]
                    ) -> np.ndarray:
        """Standard normals: the innovations ``N``, which the year kernel turns into each
        regime's returns (``grow(..., regime=)``); the regimes are drawn apart
        (:meth:`regime_paths`, :meth:`next_regime`)."""
        return rng.standard_normal(shape)

    def draw_shock(self, rng: np.random.Generator) -> float:
        return float(rng.standard_normal())

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        return _NORMAL.cdf(z)

    def pdf(self, z: np.ndarray | float) -> np.ndarray:
        return _NORMAL.pdf(z)

    def upper_mean(self, z: np.ndarray | float) -> np.ndarray:
        return _NORMAL.upper_mean(z)

    def tail_quantile(self, normal_sigmas: float) -> float:
        return float(normal_sigmas)

    def describe(self) -> str:
        stays = np.diag(self.transition_matrix)
        if self.portfolios is None:
            parts = [f"{name} (shock mean {m:+g}, volatility {s:g}, stays {p:.0%})"
                     for name, m, s, p, in zip(self.names, self.shock_means or (),
                                               self.shock_volatilities or (), stays,
                                               strict=True)]
        else:
            parts = [f"{name} (portfolio means {min(p.means):.2%}-{max(p.means):.2%}, "
                     f"volatilities {min(p.volatilities):.2%}-{max(p.volatilities):.2%}, "
                     f"stays {stay:.0%})"
                     for name, p, stay in zip(self.names, self.portfolios, stays, strict=True)]
        return (f"regimes: {self.regime_count} observed market regimes, "
                + "; ".join(parts) + f"; starts in {self.names[self.initial_index]}")

    def to_mapping(self) -> dict[str, Any]:
        mapping: dict[str, Any] = {"model": self.model,
                                   "transition": [list(row) for row in self.transition]}
        if self.portfolios is None:
            mapping["shock_means"] = list(self.shock_means or ())
            mapping["shock_volatilities"] = list(self.shock_volatilities or ())
        else:
            mapping["portfolios"] = [{"means": list(p.means),
                                      "volatilities": list(p.volatilities)}
                                     for p in self.portfolios]
        mapping["names"] = list(self.names)
        mapping["initial_regime"] = self.names[self.initial_index]
        return mapping


MARKET_MODELS[RegimeMarket.model] = (
    RegimeMarket, ("transition",),
    ("shock_means", "shock_volatilities", "portfolios", "names", "initial_regime"))


def two_regime_us_market(initial_regime: str = "calm") -> RegimeMarket:
    """An illustrative two-regime market of the kind fitted to US equity returns.

    Regime-switching studies of US stock returns (Hamilton 1989; Ang and Bekaert 2002;
    Guidolin and Timmermann 2007) find a long, calm regime with high mean and low
    volatility and a short, stressed one with negative mean and high volatility. The figures
    here are round numbers of that shape, not a fit: a calm regime of 10 years on average
    (stays with probability 0.9) with shock mean +0.3 and volatility 0.7, a stressed one of
    2.5 years (stays with 0.6) with mean -1.2 and volatility 1.1136; in the long run 80% of
    years are calm and the shock has mean 0 and variance 1, so each portfolio keeps its
    long-run one-year mean and volatility. For the paper's riskiest portfolio (sigma 19.8%)
    the calm regime adds about 6% a year to the log-return and the stressed one takes about
    24%.
    """
    stressed_volatility = math.sqrt((0.64 - 0.8 * 0.49) / 0.2)
    return RegimeMarket(transition=((0.9, 0.1), (0.4, 0.6)), shock_means=(0.3, -1.2),
                        shock_volatilities=(0.7, stressed_volatility),
                        names=("calm", "stressed"), initial_regime=initial_regime)
