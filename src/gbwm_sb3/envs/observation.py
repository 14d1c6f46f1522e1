"""The observation the networks see: a small, scale-invariant float32 vector.

Layout (``OBSERVATION_FEATURES``), for year ``t`` and pre-goal wealth ``W``:

0. ``time_fraction``          t / T, in [0, 1].
1. ``log_wealth_ratio``       log(W / W0), with W floored at ``WEALTH_FLOOR * W0`` and
                              the log capped at LOG_CLIP.
2. ``goal_affordable``        1.0 if a goal sits at ``t < T`` and ``W >= C(t)``,
                              i.e. the goal decision has an effect; else 0.0.
3. ``log_wealth_to_next_cost`` log(W / C_next), C_next the cost of the first goal
                              at or after ``t`` (0.0 if none is left), clipped to
                              [-LOG_CLIP, LOG_CLIP].
4. ``years_to_next_goal``     (t_next - t) / T, t_next the year of that goal (0.0 if
                              none is left), in [0, 1].
5. ``log_wealth_to_remaining_cost`` log(W / C_left), C_left the total cost of the
                              goals at or after ``t`` (0.0 if none is left), clipped
                              to [-LOG_CLIP, LOG_CLIP].

Features 4 and 5 put the goal schedule into the observation: how long the
wealth has to grow before the next goal, and how much of everything still on
offer it could pay for. With only ``t / T`` a network has to learn the goal
calendar (a saw-tooth in t for equally spaced goals) from data. With one goal
left feature 5 equals feature 3; a wealth-free variant, log(C_left / C_next),
trained worse with the paper preset (docs/tuning.md).

Every feature is a ratio of money amounts or of years, so multiplying ``W0``
and every cost by the same factor leaves the observation unchanged.
``GBWMPolicy`` reads ``goal_affordable`` to mask the goal head.

Problems of the general class (several goals a year, goals with levels,
infusions; ``problem.in_paper_family`` False) use the cash at hand
``A = W + I(t)`` in place of ``W`` in features 1-5 (``goal_affordable`` then
says whether any decision other than "take nothing" is affordable; the costs
in features 3 and 5 are those of the goals' top levels) and append
``GENERAL_EXTRA_FEATURES`` and then ``K`` decision flags:

6. ``log_future_infusions_to_cash``  log(1 + F / A), F the infusions of the years
                              after ``t`` (``I(t+1) + ... + I(T-1)``), capped at LOG_CLIP;
                              with withdrawals F may be negative: floored at -LOG_CLIP.
7. ``log_resources_to_remaining_cost`` log((A + F) / C_left), clipped to
                              [-LOG_CLIP, LOG_CLIP] (0.0 if no goal is left; A + F
                              floored at ``WEALTH_FLOOR * W0``).
8 .. 8+K-1. ``decision_affordable_k``  1.0 if decision k exists at ``t < T`` and
                              costs at most ``A`` (decision 0 always at ``t < T``).

With ``decision_features=True`` (general class) ``K`` blocks of
``DECISION_FEATURES`` follow, one per decision (zeros where the decision does not exist
or ``t = T``), so that a goal head can score every decision from its own features with
shared weights (``GBWMPolicy(decision_goal_head=True)``):

- ``cost_to_cash``          c_d / A, capped at ``COST_RATIO_CAP``;
- ``utility_share``         u_d / U_left, U_left the top-level utility of the goals at
                            or after ``t``;
- ``log_funding_after``     log((A - c_d + F) / C_after), C_after the top-level cost of
                            the goals after ``t``, clipped to [-LOG_CLIP, LOG_CLIP]
                            (LOG_CLIP when none is left, -LOG_CLIP when unaffordable);
- ``goals_share``           goals the decision takes / goals due at ``t``;
- ``level_share``           mean over the year's goals of level taken / levels offered.

A market with ``R >= 2`` regimes (:class:`~gbwm_sb3.problem.regimes.RegimeMarket`, always
of the general class) appends ``R`` columns last, after the decision flags (and the
decision features if any): the one-hot of the current regime (``regime_r`` is 1.0 in
regime ``r``, else 0.0; :func:`regime_columns`). Every other observation is unchanged,
and the columns before them keep their positions.

A problem with a survival table (the plan ends at death; always of the general class)
appends one column after the regime one-hot (if any): ``log_expected_utility_share``,
``log(sum_g S(t, t_g) u_g / sum_g u_g)`` over the goals at or after ``t`` (``u_g`` a goal's
top-level utility, ``S(t, t_g)`` the probability of living from ``t`` to its year), in
[-LOG_CLIP, 0]; 0.0 when no goal is left (:func:`survival_column`). It tells the policy how
much of what is still on offer the investor can expect to live for, so that a year's
choice between goals now and goals later can follow the table.

A problem with stochastic inflation (:class:`~gbwm_sb3.problem.inflation.InflationModel`,
always of the general class) appends one more column, the very last (after the regime
one-hot and the survival column where the problem has them too): ``inflation_rate``,
the standardised current rate ``(pi_t - pibar) / sd`` (``sd`` the AR(1)'s long-run
standard deviation ``s / sqrt(1 - phi^2)``), clipped to [-INFLATION_CLIP,
INFLATION_CLIP]; 0.0 when the volatility ``s`` is 0 (:func:`inflation_column`). Wealth
and every amount are then real (today's money). The other columns are as without
inflation, in the same places.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from gbwm_sb3.envs.dynamics import (
    ProblemTable,
    any_affordable,
    cash_at,
    decision_mask,
    deflation,
    has_mortality,
    has_nominal,
    has_withdrawals,
    year_costs,
)
from gbwm_sb3.problem.model import GBWMProblem

__all__ = [
    "OBSERVATION_FEATURES",
    "OBSERVATION_DIM",
    "GOAL_AFFORDABLE_INDEX",
    "WEALTH_FLOOR",
    "LOG_CLIP",
    "encode_observation",
    "observation_bounds",
    "observation_size",
    "GENERAL_EXTRA_FEATURES",
    "DECISION_FLAGS_START",
    "decision_affordable",
    "DECISION_FEATURES",
    "COST_RATIO_CAP",
    "decision_features_size",
    "regime_columns",
    "inflation_column",
    "survival_column",
    "SURVIVAL_FEATURE",
    "INFLATION_CLIP",
    "standardised_inflation",
]

OBSERVATION_FEATURES = (
    "time_fraction",
    "log_wealth_ratio",
    "goal_affordable",
    "log_wealth_to_next_cost",
    "years_to_next_goal",
    "log_wealth_to_remaining_cost",
)
OBSERVATION_DIM = len(OBSERVATION_FEATURES)
GOAL_AFFORDABLE_INDEX = OBSERVATION_FEATURES.index("goal_affordable")
GENERAL_EXTRA_FEATURES = (
    "log_future_infusions_to_cash",
    "log_resources_to_remaining_cost",
)
#: Index of the first decision flag in a general-class observation.
DECISION_FLAGS_START = OBSERVATION_DIM + len(GENERAL_EXTRA_FEATURES)
#: Features of each decision (``decision_features=True``), see the module docstring.
DECISION_FEATURES = ("cost_to_cash", "utility_share", "log_funding_after", "goals_share",
                     "level_share")
#: The column a problem with a survival table appends (see the module docstring).
SURVIVAL_FEATURE = "log_expected_utility_share"
#: Cap of ``cost_to_cash``.
COST_RATIO_CAP = 4.0
WEALTH_FLOOR = 1e-3
LOG_CLIP = 7.0
#: Bound of the standardised inflation rate column (long-run standard deviations).
INFLATION_CLIP = 5.0
#: Smallest ``F / A`` feature 6 reads: withdrawals ahead larger than the cash give -LOG_CLIP.
_FUTURE_FLOOR = math.expm1(-LOG_CLIP)
_DECISION_LOW = np.array([0.0, 0.0, -LOG_CLIP, 0.0, 0.0], dtype=np.float32)
_DECISION_HIGH = np.array([COST_RATIO_CAP, 1.0, LOG_CLIP, 1.0, 1.0], dtype=np.float32)


def decision_features_size(num_decisions: int) -> int:
    """Length of the decision-feature block for ``K = num_decisions`` decisions."""
    return num_decisions * len(DECISION_FEATURES)


def _check_decision_features(table: ProblemTable | None, decision_features: bool) -> bool:
    if not isinstance(decision_features, (bool, np.bool_)):
        raise ValueError(f"decision_features must be True or False, got {decision_features!r}")
    if decision_features and (table is None or table.paper_family[0]):
        raise ValueError("decision_features=True needs a problem of the general class (the "
                         "paper's family keeps its 6-feature observation)")
    return bool(decision_features)


def _regime_count(table: ProblemTable | None) -> int:
    """Regimes of the one-problem ``table``'s market that the observation shows (0: none)."""
    if table is None:
        return 0
    count = int(table.regime_count[0])
    return count if count > 1 else 0


def _inflation_count(table: ProblemTable | None) -> int:
    """Columns the observation gives the inflation rate: 1 with stochastic inflation, else 0."""
    return 0 if table is None or not table.has_inflation[0] else 1


def _survival_count(table: ProblemTable | None) -> int:
    """Columns the observation gives the survival table: 1 with one, else 0."""
    return 0 if table is None or not has_mortality(table) else 1


def regime_columns(table: ProblemTable, decision_features: bool = False) -> slice:
    """The columns of the regime one-hot in the observation of the one-problem ``table``
    (an empty slice before the survival and inflation columns, or at the end, for a
    market without regimes)."""
    stop = (observation_size(table, decision_features) - _inflation_count(table)
            - _survival_count(table))
    return slice(stop - _regime_count(table), stop)


def survival_column(table: ProblemTable, decision_features: bool = False) -> slice:
    """The column of ``log_expected_utility_share`` in the observation of the one-problem
    ``table``: before the inflation column, if any (an empty slice without a survival
    table)."""
    stop = observation_size(table, decision_features) - _inflation_count(table)
    return slice(stop - _survival_count(table), stop)


def inflation_column(table: ProblemTable, decision_features: bool = False) -> slice:
    """The column of the standardised inflation rate in the observation of the
    one-problem ``table``: the last one (an empty slice at the end without stochastic
    inflation)."""
    size = observation_size(table, decision_features)
    return slice(size - _inflation_count(table), size)


def standardised_inflation(table: ProblemTable, rate: np.ndarray | float,
                           row: int = 0) -> np.ndarray:
    """``(pi_t - pibar) / sd`` of the rates ``rate`` of row ``row``'s AR(1) inflation (``sd``
    its long-run standard deviation), clipped to [-INFLATION_CLIP, INFLATION_CLIP]; 0
    where the inflation volatility is 0."""
    rate = np.asarray(rate, dtype=np.float64)
    volatility = float(table.inflation_volatility[row])
    if volatility <= 0.0:
        return np.zeros(rate.shape)
    spread = volatility / math.sqrt(1.0 - float(table.inflation_persistence[row]) ** 2)
    return np.clip((rate - float(table.inflation_mean[row])) / spread,
                   -INFLATION_CLIP, INFLATION_CLIP)


def observation_size(table: ProblemTable | None = None, decision_features: bool = False) -> int:
    """Length of the observation: 6 for the paper family, ``8 + K`` for the general class
    (``8 + K + 5 K`` with ``decision_features``), plus ``R`` for a market with ``R``
    regimes, plus 1 for a survival table, plus 1 for stochastic inflation."""
    if table is None or table.paper_family[0]:
        _check_decision_features(table, decision_features)
        return OBSERVATION_DIM
    k = int(table.num_decisions[0])
    extra = decision_features_size(k) if _check_decision_features(table, decision_features) \
        else 0
    return (DECISION_FLAGS_START + k + extra + _regime_count(table) + _survival_count(table)
            + _inflation_count(table))


def observation_bounds(table: ProblemTable | None = None, decision_features: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of each feature (for the Box observation space)."""
    low = np.array([0.0, np.log(WEALTH_FLOOR), 0.0, -LOG_CLIP, 0.0, -LOG_CLIP],
                   dtype=np.float32)
    high = np.array([1.0, LOG_CLIP, 1.0, LOG_CLIP, 1.0, LOG_CLIP], dtype=np.float32)
    if table is None or table.paper_family[0]:
        _check_decision_features(table, decision_features)
        return low, high
    k = int(table.num_decisions[0])
    future_low = -LOG_CLIP if has_withdrawals(table) else 0.0
    low = np.concatenate([low, [future_low, -LOG_CLIP], np.zeros(k)]).astype(np.float32)
    high = np.concatenate([high, [LOG_CLIP, LOG_CLIP], np.ones(k)]).astype(np.float32)
    if _check_decision_features(table, decision_features):
        low = np.concatenate([low, np.tile(_DECISION_LOW, k)]).astype(np.float32)
        high = np.concatenate([high, np.tile(_DECISION_HIGH, k)]).astype(np.float32)
    regimes = _regime_count(table)
    if regimes:
        low = np.concatenate([low, np.zeros(regimes)]).astype(np.float32)
        high = np.concatenate([high, np.ones(regimes)]).astype(np.float32)
    if _survival_count(table):  # the only column whose bounds are [-LOG_CLIP, 0]
        low = np.concatenate([low, [-LOG_CLIP]]).astype(np.float32)
        high = np.concatenate([high, [0.0]]).astype(np.float32)
    if _inflation_count(table):
        low = np.concatenate([low, [-INFLATION_CLIP]]).astype(np.float32)
        high = np.concatenate([high, [INFLATION_CLIP]]).astype(np.float32)
    return low, high


def decision_affordable(table: ProblemTable, t: int, wealth: np.ndarray,
                        price_level: np.ndarray | None = None) -> np.ndarray:
    """(len(wealth), K) bool: the decisions that exist at ``t < T`` and cost at most the cash.

    The kernel's :func:`~gbwm_sb3.envs.dynamics.decision_mask` for a one-problem table,
    cut to the problem's ``K`` (paper: columns skip, take); all False at ``t = T``.
    ``price_level``: each trajectory's ``P_t`` (required for nominal amounts).
    """
    return decision_mask(table, 0, t, wealth, price_level)[:, : int(table.num_decisions[0])]


def goal_affordable(table: ProblemTable, t: int, wealth: np.ndarray,
                    price_level: np.ndarray | None = None) -> np.ndarray:
    """Where the goal decision at year ``t`` has an effect: a decision other than "take
    nothing" is affordable (goal present, ``t < T``)."""
    if t >= table.horizon[0] or not table.has_goal[0, t]:
        return np.zeros(np.shape(wealth), dtype=bool)
    return any_affordable(table, 0, t, np.asarray(wealth, dtype=np.float64), price_level)


def encode_observation(table: ProblemTable, t: int, wealth: np.ndarray,
                       decision_features: bool = False,
                       regime: np.ndarray | int | None = None,
                       inflation: np.ndarray | float | None = None,
                       price_level: np.ndarray | float | None = None) -> np.ndarray:
    """Observations of shape (len(wealth), observation_size) for year ``t`` and pre-goal wealth.

    ``regime``: the current market regime of every trajectory (one int, or one per
    trajectory), required for a market with regimes and refused for any other.
    ``inflation``: the current inflation rate ``pi_t`` of every trajectory (one number, or
    one per trajectory), required for a problem with stochastic inflation (``wealth`` is
    then real) and refused for any other. ``price_level``: each trajectory's ``P_t``,
    required for a problem with nominal amounts (its amounts are then read in today's
    money: nominal ones divided by ``P_t``) and refused for any other.
    """
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    regimes = _regime_count(table)
    rates = _checked_inflation(table, inflation, wealth.shape[0])
    levels = _checked_price_level(table, price_level, wealth.shape[0])
    if regimes:
        if regime is None:
            raise ValueError(f"the problem's market has {regimes} regimes: the observation "
                             "needs the current regime of every trajectory (regime=)")
        return _encode_general(table, t, wealth, decision_features,
                               _checked_regime(regime, regimes, wealth.shape[0]), rates, levels)
    if regime is not None:
        raise ValueError("regime must be None: the problem's market has no regimes")
    if rates is not None:
        return _encode_general(table, t, wealth, decision_features, None, rates, levels)
    if not table.paper_family[0]:
        return _encode_general(table, t, wealth, decision_features)
    horizon, initial = int(table.horizon[0]), float(table.initial_wealth[0])
    obs = np.empty((wealth.shape[0], OBSERVATION_DIM), dtype=np.float32)
    safe_wealth = np.maximum(wealth, WEALTH_FLOOR * initial)
    obs[:, 0] = t / horizon
    obs[:, 1] = np.minimum(np.log(safe_wealth / initial), LOG_CLIP)
    obs[:, 2] = goal_affordable(table, t, wealth)
    year = min(t, horizon)
    obs[:, 3] = _log_ratio_to(safe_wealth, table.next_cost[0, year])
    next_time = table.next_goal_time[0, year]
    obs[:, 4] = (next_time - t) / horizon if np.isfinite(next_time) else 0.0
    obs[:, 5] = _log_ratio_to(safe_wealth, table.remaining_cost[0, year])
    return obs


def _checked_regime(regime: np.ndarray | int, count: int, n: int) -> np.ndarray:
    """``regime`` as an int array of length ``n`` of regimes in ``0..count-1``."""
    values = np.asarray(regime)
    if values.dtype.kind not in "iu" or values.ndim > 1 \
            or (values.ndim == 1 and values.shape[0] != n):
        raise ValueError(f"regime must be an integer or {n} integers (one per trajectory), "
                         f"got {values.dtype} of shape {values.shape}")
    if values.size and (values.min() < 0 or values.max() >= count):
        raise ValueError(f"regime must be in 0..{count - 1}, got range "
                         f"[{values.min()}, {values.max()}]")
    return np.broadcast_to(values.astype(np.intp), (n,))


def _checked_inflation(table: ProblemTable, inflation: np.ndarray | float | None,
                       n: int) -> np.ndarray | None:
    """``inflation`` as a float array of length ``n`` (None without stochastic inflation),
    required exactly where the problem has it."""
    return _per_trajectory(inflation, "inflation", bool(_inflation_count(table)),
                           "stochastic inflation", "the current inflation rate", "rate", n)


def _checked_price_level(table: ProblemTable, price_level: np.ndarray | float | None,
                         n: int) -> np.ndarray | None:
    """``price_level`` as a float array of length ``n`` (None for a problem without nominal
    amounts), required exactly where the problem has them; positive."""
    return _per_trajectory(price_level, "price_level", has_nominal(table), "nominal amounts",
                           "the price level", "level", n, positive=True)


def _per_trajectory(value: np.ndarray | float | None, name: str, needed: bool, feature: str,
                    what: str, unit: str, n: int, positive: bool = False) -> np.ndarray | None:
    """A per-trajectory state input of the observation, checked: refused where the problem
    has no ``feature``, required where it has, one finite number or ``n`` of them."""
    if not needed:
        if value is not None:
            raise ValueError(f"{name} must be None: the problem has no {feature}")
        return None
    if value is None:
        raise ValueError(f"the problem has {feature}: the observation needs {what} of every "
                         f"trajectory ({name}=)")
    values = np.asarray(value)
    if values.dtype.kind not in "fiu" or values.ndim > 1 \
            or (values.ndim == 1 and values.shape[0] != n):
        raise ValueError(f"{name} must be a number or {n} numbers (one {unit} per "
                         f"trajectory), got {values.dtype} of shape {values.shape}")
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)) or (positive and not np.all(values > 0.0)):
        raise ValueError(f"{name} must be finite{' and positive' if positive else ''} "
                         f"{unit}s")
    return np.broadcast_to(values, (n,))


def _today(as_written: float, nominal: np.ndarray | None, row_year: tuple[int, int],
           levels: np.ndarray | None) -> np.ndarray | float:
    """An amount of the table (``as_written``, at year ``row_year``) in today's money: its
    nominal part (``nominal``, a table array) deflated by each trajectory's price level."""
    if levels is None or nominal is None:
        return as_written
    return as_written + nominal[row_year] * deflation(levels)


def _encode_general(table: ProblemTable, t: int, wealth: np.ndarray,
                    decision_features: bool = False,
                    regime: np.ndarray | None = None,
                    inflation: np.ndarray | None = None,
                    levels: np.ndarray | None = None) -> np.ndarray:
    """The general-class observation (see the module docstring); ``levels``: the price
    levels of a problem with nominal amounts, whose amounts it reads in today's money."""
    horizon, initial = int(table.horizon[0]), float(table.initial_wealth[0])
    year = min(t, horizon)
    at = (0, year)
    cash = cash_at(table, 0, year, wealth, levels)
    obs = np.empty((wealth.shape[0], observation_size(table, decision_features)),
                   dtype=np.float32)
    safe_cash = np.maximum(cash, WEALTH_FLOOR * initial)
    obs[:, 0] = t / horizon
    obs[:, 1] = np.minimum(np.log(safe_cash / initial), LOG_CLIP)
    flags = decision_affordable(table, t, wealth, levels)
    obs[:, 2] = flags[:, 1:].any(axis=1)
    remaining = _today(table.remaining_cost[at], table.nominal_remaining_cost, at, levels)
    obs[:, 3] = _log_ratio_to(safe_cash, _today(table.next_cost[at], table.nominal_next_cost,
                                                at, levels))
    next_time = table.next_goal_time[0, year]
    obs[:, 4] = (next_time - t) / horizon if np.isfinite(next_time) else 0.0
    obs[:, 5] = _log_ratio_to(safe_cash, remaining)
    # negative with withdrawals
    future = _today(table.future_infusions[at], table.nominal_future_infusions, at, levels)
    obs[:, 6] = np.minimum(np.log1p(np.maximum(future / safe_cash, _FUTURE_FLOOR)), LOG_CLIP)
    resources = np.maximum(safe_cash + future, WEALTH_FLOOR * initial)
    obs[:, 7] = _log_ratio_to(resources, remaining)
    k = flags.shape[1]
    obs[:, DECISION_FLAGS_START: DECISION_FLAGS_START + k] = flags
    start = DECISION_FLAGS_START + k
    if decision_features:
        stop = start + decision_features_size(k)
        obs[:, start:stop] = _decision_block(table, t, safe_cash, cash, flags, levels)
        start = stop
    if regime is not None:
        one_hot = obs[:, start: start + _regime_count(table)]
        one_hot[:] = 0.0
        one_hot[np.arange(wealth.shape[0]), regime] = 1.0
    if _survival_count(table):
        obs[:, survival_column(table, decision_features)] = _expected_utility_share(
            table.problems[0])[year]
    if inflation is not None:
        obs[:, -1] = standardised_inflation(table, inflation)
    return obs


@lru_cache(maxsize=64)
def _expected_utility_share(problem: GBWMProblem | None) -> np.ndarray:
    """``log_expected_utility_share`` of each year 0..T (see the module docstring)."""
    assert problem is not None
    horizon = problem.horizon
    alive = np.concatenate([[1.0], np.cumprod(problem.survival_by_time[:horizon])])
    column = np.zeros(horizon + 1)
    for t in range(horizon + 1):
        ahead = [(g.time, g.max_utility) for g in problem.goals if g.time >= t]
        offered = sum(u for _, u in ahead)
        if offered <= 0.0:
            continue
        expected = sum(u * (alive[year] / alive[t] if alive[t] > 0.0 else 0.0)
                       for year, u in ahead)
        column[t] = np.log(expected / offered) if expected > 0.0 else -LOG_CLIP
    return np.maximum(column, -LOG_CLIP)


def _decision_block(table: ProblemTable, t: int, safe_cash: np.ndarray, cash: np.ndarray,
                    affordable: np.ndarray, levels: np.ndarray | None = None) -> np.ndarray:
    """The ``K x len(DECISION_FEATURES)`` decision features, flattened decision-major
    (amounts in today's money at the price ``levels`` of a problem with nominal amounts)."""
    n, k = affordable.shape
    block = np.zeros((n, k, len(DECISION_FEATURES)), dtype=np.float32)
    horizon = int(table.horizon[0])
    if t >= horizon:
        return block.reshape(n, -1)
    problem = table.problems[0]
    assert problem is not None
    shares = _decision_shares(problem)
    cost = year_costs(table, 0, t, levels)[..., :k]
    exists = np.isfinite(cost)
    safe_cost = np.where(exists, cost, 0.0)
    block[:, :, 0] = np.where(exists, np.minimum(safe_cost / safe_cash[:, None],
                                                 COST_RATIO_CAP), 0.0)
    block[:, :, 1] = shares[0][t]
    left_after = _today(table.remaining_cost[0, t + 1], table.nominal_remaining_cost,
                        (0, t + 1), levels)
    future = _today(table.future_infusions[0, t], table.nominal_future_infusions, (0, t),
                    levels)
    if np.any(np.asarray(left_after) > 0.0):
        resources = np.maximum(cash[:, None] - safe_cost + np.reshape(future, (-1, 1)),
                               WEALTH_FLOOR * float(table.initial_wealth[0]))
        with np.errstate(divide="ignore"):
            funding = np.clip(np.log(resources / np.reshape(left_after, (-1, 1))),
                              -LOG_CLIP, LOG_CLIP)
        funding = np.where(np.reshape(left_after, (-1, 1)) > 0.0, funding, LOG_CLIP)
    else:
        funding = np.full((n, k), LOG_CLIP)
    block[:, :, 2] = np.where(affordable, funding, np.where(exists, -LOG_CLIP, 0.0))
    block[:, :, 3] = shares[1][t]
    block[:, :, 4] = shares[2][t]
    return block.reshape(n, -1)


@lru_cache(maxsize=64)
def _decision_shares(problem: GBWMProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (year, decision): utility share of what is left, goals share, level share."""
    k = problem.max_decisions
    utility = np.zeros((problem.horizon + 1, k))
    goals = np.zeros((problem.horizon + 1, k))
    levels = np.zeros((problem.horizon + 1, k))
    left = np.cumsum([sum(g.max_utility for g in problem.goals_at(t))
                      for t in range(problem.horizon, -1, -1)])[::-1]
    for t in range(problem.horizon + 1):
        due = problem.goals_at(t)
        for d in problem.decisions(t):
            utility[t, d.index] = d.utility / left[t] if left[t] > 0 else 0.0
            if due:
                goals[t, d.index] = d.goals_taken / len(due)
                levels[t, d.index] = float(np.mean([level / goal.num_levels for goal, level
                                                    in zip(d.goals, d.levels, strict=True)]))
    return utility, goals, levels


def _log_ratio_to(wealth: np.ndarray, amount: float | np.ndarray) -> np.ndarray | float:
    """log(wealth / amount) clipped to [-LOG_CLIP, LOG_CLIP]; 0.0 when there is no amount
    (``amount``: one number, or one per trajectory)."""
    if np.ndim(amount):
        amount = np.asarray(amount)
        present = np.isfinite(amount) & (amount > 0.0)
        safe = np.where(present, amount, 1.0)
        return np.where(present, np.clip(np.log(wealth / safe), -LOG_CLIP, LOG_CLIP), 0.0)
    if not (np.isfinite(amount) and amount > 0.0):
        return 0.0
    return np.clip(np.log(wealth / amount), -LOG_CLIP, LOG_CLIP)
