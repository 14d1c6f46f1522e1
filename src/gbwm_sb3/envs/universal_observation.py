"""A fixed-length, scale-invariant observation for any problem of the supported envelope.

Unlike :mod:`gbwm_sb3.envs.observation`, whose length depends on the problem's number
of decisions, this observation has the same length (:data:`UNIVERSAL_OBSERVATION_SIZE`)
for every problem with at most :data:`K_MAX` decisions a year and :data:`N_MAX`
portfolios, so one network can read trajectories of many problems side by side.
Every money feature is a ratio of money amounts, so multiplying ``W0``, every cost and
every infusion by one factor leaves the observation unchanged.

For year ``t`` and pre-infusion wealth ``W``, ``A = W + I(t)`` is the cash at hand
(floored at ``WEALTH_FLOOR * W0``); ``C(s)`` is the total top-level cost of the goals
due at ``s``, ``U(s)`` their total best utility; ``r`` the problem's
:func:`~gbwm_sb3.problem.sampler.discount_rate` (the lowest-volatility portfolio's
mean) and ``g`` the highest log drift ``mu - sigma^2 / 2`` of its portfolios.
``PVC(t) = sum_{s >= t} C(s) (1 + r)^-(s - t)``; ``PVI(t)`` the infusions after ``t``
discounted the same way. Logs are clipped to ``[-LOG_CLIP, LOG_CLIP]``.

Layout: ``[trajectory features | K_MAX x decision features | N_MAX x portfolio features |
UPCOMING_GOAL_YEARS x upcoming goal-year features]``.

Trajectory features (:data:`TRAJECTORY_FEATURES`):

0. ``time_fraction``: t / T.
1. ``years_left``: (T - t) / HORIZON_SCALE (40): the absolute time left to grow.
2. ``log_cash_to_initial_wealth``: log(A / W0).
3. ``log_cash_to_remaining_cost``: log(A / sum_{s >= t} C(s)) (0 when no goal is left).
4. ``log_cash_to_discounted_cost``: log(A / PVC(t)) (0 when no goal is left).
5. ``log_cash_to_growth_discounted_cost``: log(A / PVC_g(t)), costs discounted by
   ``exp(-g (s - t))``: funding if the best-growing portfolio delivered its median.
6. ``log_resources_to_discounted_cost``: log((A + PVI(t)) / PVC(t)).
7. ``log_future_infusions_to_cash``: log(1 + PVI(t) / A).
8. ``log_future_infusions_to_discounted_cost``: log(1 + PVI(t) / PVC(t)).
9. ``remaining_utility_fraction``: sum_{s >= t} U(s) / sum_s U(s).
10. ``current_utility_fraction``: U(t) / sum_{s >= t} U(s) (0 when none is left).
11. ``log_cash_to_next_cost``: log(A / C(t_next)), t_next the first goal year after t.
12. ``years_to_next_goal``: (t_next - t) / HORIZON_SCALE (0 when none).
13. ``goals_left``: goals due at ``s >= t``, / GOAL_SCALE (20).
14. ``cost_weighted_years_to_goals``: sum (s - t) C(s) / sum C(s) over s >= t, / 40.
15. ``decisions_now``: decisions of year t / K_MAX (0 at T).

Decision features, for each decision k < K_MAX of year t (:data:`DECISION_FEATURES`;
all 0 for padding and at t = T, where the choice is automatic):

0. ``exists``: 1 if year t has a decision k (decision 0, "take nothing", always does).
1. ``affordable``: 1 if it exists and costs at most A (the action mask).
2. ``cost_to_cash``: cost / A, capped at COST_RATIO_CAP (4).
3. ``utility_to_remaining_utility``: utility / sum_{s >= t} U(s).
4. ``cost_to_discounted_cost``: cost / PVC(t), in [0, 1].
5. ``log_funding_after``: log((A - cost + PVI(t)) / PVC_after(t)), PVC_after the later
   goals' costs discounted to t: how funded the client stays after this choice
   (LOG_CLIP when no later goal; -LOG_CLIP when unaffordable).

Portfolio features, for each portfolio j < N_MAX (:data:`PORTFOLIO_FEATURES`; 0 for
padding): ``exists``, ``mean`` and ``volatility`` (yearly, as fractions: 0.07 = 7%).

Upcoming goal-year features, for each of the next :data:`UPCOMING_GOAL_YEARS` years
``s > t`` with goals, nearest first (:data:`UPCOMING_FEATURES`; 0 for padding): what
the aggregates above cannot say, which later goals compete for the money and when:

0. ``exists``: 1 for a goal year.
1. ``years_ahead``: (s - t) / HORIZON_SCALE.
2. ``log_cost_to_cash``: log(C(s) / A).
3. ``utility_share``: U(s) / sum_{s' >= t} U(s').
4. ``log_growth_cost_to_cash``: log(C(s) exp(-g (s - t)) / A): the cash needed now if
   the best-growing portfolio delivered its median.
5. ``log_entry_cost_to_cash``: log(E(s) / A), ``E(s)`` the cost of the cheapest decision of
   year s that funds anything (a goal's lowest level, or the cheapest goal of the year).
6. ``entry_utility_share``: that decision's utility / sum_{s' >= t} U(s').
7. ``log_efficient_cost_to_cash``: log(B(s) / A), ``B(s)`` the cost of the decision of
   year s with the most utility per unit of cost.
8. ``efficient_utility_share``: that decision's utility / sum_{s' >= t} U(s').

Features 5-8 say what a partly funded client can still buy at ``s``: the top-level
totals ``C(s)`` and ``U(s)`` hide a cheaper lower level, or one goal of several worth
most of the year's utility.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gbwm_sb3.envs.dynamics import ProblemTable
from gbwm_sb3.envs.observation import LOG_CLIP, WEALTH_FLOOR
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import discount_rate

__all__ = [
    "K_MAX",
    "N_MAX",
    "HORIZON_SCALE",
    "GOAL_SCALE",
    "COST_RATIO_CAP",
    "TRAJECTORY_FEATURES",
    "DECISION_FEATURES",
    "PORTFOLIO_FEATURES",
    "UNIVERSAL_OBSERVATION_SIZE",
    "DECISION_BLOCK",
    "PORTFOLIO_BLOCK",
    "UPCOMING_GOAL_YEARS",
    "UPCOMING_FEATURES",
    "UPCOMING_BLOCK",
    "UniversalObservation",
    "universal_observation",
    "universal_observation_bounds",
    "split_universal_observation",
    "clipped_log_cost_to_cash",
    "clipped_log_ratio",
    "CASH_TRAJECTORY_COLUMNS",
    "cash_trajectory_feature",
    "varying_cash_columns",
]

#: Decisions a year the observation has room for (padded with ``exists = 0``).
K_MAX = 64
#: Portfolios the observation has room for (padded with ``exists = 0``).
N_MAX = 20
HORIZON_SCALE = 40.0
GOAL_SCALE = 20.0
COST_RATIO_CAP = 4.0

TRAJECTORY_FEATURES = (
    "time_fraction",
    "years_left",
    "log_cash_to_initial_wealth",
    "log_cash_to_remaining_cost",
    "log_cash_to_discounted_cost",
    "log_cash_to_growth_discounted_cost",
    "log_resources_to_discounted_cost",
    "log_future_infusions_to_cash",
    "log_future_infusions_to_discounted_cost",
    "remaining_utility_fraction",
    "current_utility_fraction",
    "log_cash_to_next_cost",
    "years_to_next_goal",
    "goals_left",
    "cost_weighted_years_to_goals",
    "decisions_now",
)
DECISION_FEATURES = (
    "exists",
    "affordable",
    "cost_to_cash",
    "utility_to_remaining_utility",
    "cost_to_discounted_cost",
    "log_funding_after",
)
PORTFOLIO_FEATURES = ("exists", "mean", "volatility")
#: Later goal years described one by one (further ones only through the aggregates).
UPCOMING_GOAL_YEARS = 8
UPCOMING_FEATURES = ("exists", "years_ahead", "log_cost_to_cash", "utility_share",
                     "log_growth_cost_to_cash", "log_entry_cost_to_cash", "entry_utility_share",
                     "log_efficient_cost_to_cash", "efficient_utility_share")
#: Trajectory features that depend on the cash at hand, each with the year aggregate it
#: compares the cash with (names of :meth:`UniversalObservation.year_quantities`).
_CASH_FEATURE_AGGREGATE = {2: "initial_wealth", 3: "remaining_cost", 4: "pv_cost",
                           5: "pv_cost_growth", 6: "pv_cost", 7: "pv_infusions",
                           11: "next_cost"}
CASH_TRAJECTORY_COLUMNS = tuple(_CASH_FEATURE_AGGREGATE)
#: Upcoming goal-year features that depend on the cash (log of a cost over the cash).
UPCOMING_CASH_COLUMNS = (2, 4, 5, 7)
_NT, _ND, _NP = len(TRAJECTORY_FEATURES), len(DECISION_FEATURES), len(PORTFOLIO_FEATURES)
_NU = len(UPCOMING_FEATURES)
#: Where the K_MAX x len(DECISION_FEATURES) decision block sits in the observation.
DECISION_BLOCK = slice(_NT, _NT + K_MAX * _ND)
#: Where the N_MAX x len(PORTFOLIO_FEATURES) portfolio block sits in the observation.
PORTFOLIO_BLOCK = slice(DECISION_BLOCK.stop, DECISION_BLOCK.stop + N_MAX * _NP)
#: Where the UPCOMING_GOAL_YEARS x len(UPCOMING_FEATURES) block sits in the observation.
UPCOMING_BLOCK = slice(PORTFOLIO_BLOCK.stop, PORTFOLIO_BLOCK.stop + UPCOMING_GOAL_YEARS * _NU)
UNIVERSAL_OBSERVATION_SIZE = UPCOMING_BLOCK.stop

_PER_YEAR = ("remaining_cost", "pv_cost", "pv_cost_growth", "pv_cost_after", "pv_infusions",
             "remaining_utility", "utility_now", "next_cost", "years_to_next", "goals_left",
             "weighted_years")


def universal_observation_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of every entry (for a ``Box`` observation space)."""
    low = np.zeros(UNIVERSAL_OBSERVATION_SIZE, dtype=np.float32)
    high = np.ones(UNIVERSAL_OBSERVATION_SIZE, dtype=np.float32)
    for i, name in enumerate(TRAJECTORY_FEATURES):
        if name.startswith("log_"):
            low[i], high[i] = (0.0 if "infusions" in name else -LOG_CLIP), LOG_CLIP
    high[1] = high[12] = high[14] = np.inf  # only for envelopes beyond HORIZON_SCALE years
    decisions = (low[DECISION_BLOCK].reshape(K_MAX, _ND), high[DECISION_BLOCK].reshape(K_MAX, _ND))
    decisions[1][:, 2] = COST_RATIO_CAP
    decisions[0][:, 5], decisions[1][:, 5] = -LOG_CLIP, LOG_CLIP
    portfolios = (low[PORTFOLIO_BLOCK].reshape(N_MAX, _NP),
                  high[PORTFOLIO_BLOCK].reshape(N_MAX, _NP))
    portfolios[0][:, 1], portfolios[1][:, 1:] = -np.inf, np.inf
    upcoming = (low[UPCOMING_BLOCK].reshape(UPCOMING_GOAL_YEARS, _NU),
                high[UPCOMING_BLOCK].reshape(UPCOMING_GOAL_YEARS, _NU))
    upcoming[1][:, 1] = np.inf  # only for envelopes beyond HORIZON_SCALE years
    for column in UPCOMING_CASH_COLUMNS:
        upcoming[0][:, column], upcoming[1][:, column] = -LOG_CLIP, LOG_CLIP
    return low, high


def split_universal_observation(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(trajectory (..., 16), decisions (..., K_MAX, 6), portfolios (..., N_MAX, 3))`` views."""
    obs = np.asarray(obs)
    lead = obs.shape[:-1]
    return (obs[..., :_NT], obs[..., DECISION_BLOCK].reshape(*lead, K_MAX, _ND),
            obs[..., PORTFOLIO_BLOCK].reshape(*lead, N_MAX, _NP))


def split_upcoming_goals(obs: np.ndarray) -> np.ndarray:
    """The upcoming goal-year block, shape (..., UPCOMING_GOAL_YEARS, len(UPCOMING_FEATURES))."""
    obs = np.asarray(obs)
    return obs[..., UPCOMING_BLOCK].reshape(*obs.shape[:-1], UPCOMING_GOAL_YEARS, _NU)


def _year_offers(cost: np.ndarray, utility: np.ndarray) -> np.ndarray:
    """Per year: cost and utility of the cheapest decision that funds anything and of the
    decision with the most utility per cost, shape (years, 4) (0 where a year has none).

    ``cost`` and ``utility``: (years, K) decision tables (decision 0 funds nothing; ``inf``
    cost for decisions a year does not have).
    """
    cost, utility = cost[:, 1:], utility[:, 1:]
    real = np.isfinite(cost)
    out = np.zeros((cost.shape[0], 4))
    if cost.shape[1] == 0:
        return out
    years = np.arange(cost.shape[0])
    entry = np.where(real, cost, np.inf).argmin(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cost > 0, utility / np.where(cost > 0, cost, 1.0), np.inf)
    efficient = np.where(real, ratio, -np.inf).argmax(axis=1)
    has = real.any(axis=1)
    for column, choice in ((0, entry), (2, efficient)):
        out[:, column] = np.where(has, cost[years, choice], 0.0)
        out[:, column + 1] = np.where(has, utility[years, choice], 0.0)
    return out


def _upcoming(problem: GBWMProblem, time_steps: int, offers: np.ndarray
              ) -> tuple[np.ndarray, ...]:
    """(years ahead, cost, utility, offers) of the next goal years after each t:
    (time_steps, U) each, offers (time_steps, U, 4) (see :func:`_year_offers`)."""
    costs = problem.cost_by_time
    utilities = np.zeros(problem.horizon + 1)
    for goal in problem.goals:
        utilities[goal.time] += goal.max_utility
    goal_years = [s for s in range(problem.horizon + 1) if costs[s] > 0 or utilities[s] > 0]
    ahead = np.zeros((time_steps, UPCOMING_GOAL_YEARS))
    cost = np.zeros_like(ahead)
    utility = np.zeros_like(ahead)
    ahead_offers = np.zeros((time_steps, UPCOMING_GOAL_YEARS, 4))
    for t in range(problem.horizon + 1):
        later = [s for s in goal_years if s > t][:UPCOMING_GOAL_YEARS]
        k = len(later)
        ahead[t, :k] = np.asarray(later) - t
        cost[t, :k] = costs[later]
        utility[t, :k] = utilities[later]
        ahead_offers[t, :k] = offers[later]
    return ahead, cost, utility, ahead_offers


def _per_year_features(problem: GBWMProblem, time_steps: int) -> dict[str, np.ndarray]:
    """The per-year quantities of the module docstring, shape (time_steps,) each."""
    horizon = problem.horizon
    costs = problem.cost_by_time
    utilities = np.zeros(horizon + 1)
    counts = np.zeros(horizon + 1)
    for goal in problem.goals:
        utilities[goal.time] += goal.max_utility
        counts[goal.time] += 1
    infusions = problem.infusion_by_time
    safe = 1.0 / (1.0 + discount_rate(problem))
    growth = float(np.exp(-problem.portfolios.log_drifts.max()))
    out = {name: np.zeros(time_steps) for name in _PER_YEAR}
    pv = pv_growth = pv_inf = remaining = weighted = 0.0
    remaining_u = goals = 0.0
    next_cost, next_time = 0.0, None
    for t in range(horizon, -1, -1):
        # values for year t, built from those of t + 1
        out["pv_cost_after"][t] = pv * safe
        out["pv_infusions"][t] = pv_inf * safe
        out["next_cost"][t] = next_cost
        out["years_to_next"][t] = 0.0 if next_time is None else (next_time - t) / HORIZON_SCALE
        weighted = weighted + remaining  # each later cost one year further away
        pv = costs[t] + pv * safe
        pv_growth = costs[t] + pv_growth * growth
        pv_inf = infusions[t] + pv_inf * safe
        remaining += costs[t]
        remaining_u += utilities[t]
        goals += counts[t]
        out["pv_cost"][t], out["pv_cost_growth"][t] = pv, pv_growth
        out["remaining_cost"][t], out["remaining_utility"][t] = remaining, remaining_u
        out["utility_now"][t], out["goals_left"][t] = utilities[t], goals / GOAL_SCALE
        out["weighted_years"][t] = weighted / remaining / HORIZON_SCALE if remaining > 0 else 0.0
        if counts[t]:
            next_cost, next_time = costs[t], t
    return out


class UniversalObservation:
    """Encoder of the universal observation for the rows of a :class:`ProblemTable`.

    Holds the per-year quantities of each row's problem; :meth:`write` must follow
    every :meth:`ProblemTable.write` of the same rows. :meth:`encode` is vectorised:
    each trajectory has its own row, year and wealth.
    """

    def __init__(self, table: ProblemTable) -> None:
        if table.max_decisions > K_MAX or table.max_portfolios > N_MAX:
            raise ValueError(
                f"table: at most {K_MAX} decisions a year and {N_MAX} portfolios fit the "
                f"observation, got {table.max_decisions} and {table.max_portfolios}"
            )
        self.table = table
        self._per_year = {name: np.zeros((table.size, table.time_steps)) for name in _PER_YEAR}
        self._portfolio_block = np.zeros((table.size, N_MAX * _NP), dtype=np.float32)
        shape = (table.size, table.time_steps, UPCOMING_GOAL_YEARS)
        self._ahead, self._ahead_cost, self._ahead_utility = (np.zeros(shape) for _ in range(3))
        self._ahead_offers = np.zeros((*shape, 4))
        self._best_drift = np.zeros(table.size)
        written = [(i, p) for i, p in enumerate(table.problems) if p is not None]
        if written:
            self.write([i for i, _ in written], [p for _, p in written])

    def write(self, rows: np.ndarray | list[int], problems: list[GBWMProblem]) -> None:
        """Precompute the per-year quantities of ``problems[i]`` for row ``rows[i]``."""
        for row, problem in zip(np.asarray(rows, dtype=np.int64).tolist(), problems, strict=True):
            features = _per_year_features(problem, self.table.time_steps)
            for name, values in features.items():
                self._per_year[name][row] = values
            block = np.zeros((N_MAX, _NP))
            block[: problem.num_portfolios] = np.column_stack([
                np.ones(problem.num_portfolios), problem.portfolios.mean_array,
                problem.portfolios.volatility_array])
            self._portfolio_block[row] = block.reshape(-1)
            t1 = problem.horizon + 1
            offers = _year_offers(self.table.decision_cost[row, :t1],
                                  self.table.decision_utility[row, :t1])
            (self._ahead[row], self._ahead_cost[row], self._ahead_utility[row],
             self._ahead_offers[row]) = _upcoming(problem, self.table.time_steps, offers)
            self._best_drift[row] = float(problem.portfolios.log_drifts.max())

    def year_quantities(self, row: int, t: int) -> dict[str, float | np.ndarray]:
        """The float64 quantities :meth:`encode` reads for ``row`` at year ``t``.

        The per-year aggregates of the module docstring by name, plus ``infusion``,
        ``initial_wealth``, ``best_drift`` and, for the upcoming goal years that exist,
        ``ahead`` (years ahead), ``ahead_cost`` (their costs), ``ahead_entry_cost`` and
        ``ahead_efficient_cost`` (costs of their entry and most efficient decisions), shape
        (U,) each.
        """
        out: dict[str, float | np.ndarray] = {
            name: float(values[row, t]) for name, values in self._per_year.items()}
        exists = self._ahead[row, t] > 0
        out.update(infusion=float(self.table.infusions[row, t]),
                   initial_wealth=float(self.table.initial_wealth[row]),
                   best_drift=float(self._best_drift[row]),
                   ahead=self._ahead[row, t][exists].copy(),
                   ahead_cost=self._ahead_cost[row, t][exists].copy(),
                   ahead_entry_cost=self._ahead_offers[row, t, :, 0][exists].copy(),
                   ahead_efficient_cost=self._ahead_offers[row, t, :, 2][exists].copy())
        return out

    def encode(self, rows: np.ndarray, t: np.ndarray, wealth: np.ndarray) -> np.ndarray:
        """Observations, shape (len(rows), UNIVERSAL_OBSERVATION_SIZE), float32.

        Trajectory i stands at year ``t[i]`` of row ``rows[i]`` with pre-infusion ``wealth[i]``.
        """
        table = self.table
        rows = np.asarray(rows, dtype=np.intp)
        t = np.asarray(t, dtype=np.intp)
        wealth = np.asarray(wealth, dtype=np.float64)
        n = rows.shape[0]
        year = {name: values[rows, t] for name, values in self._per_year.items()}
        horizon = table.horizon[rows]
        w0 = table.initial_wealth[rows]
        cash = np.maximum(wealth + table.infusions[rows, t], WEALTH_FLOOR * w0)
        obs = np.zeros((n, UNIVERSAL_OBSERVATION_SIZE), dtype=np.float32)
        obs[:, 0] = t / horizon
        obs[:, 1] = (horizon - t) / HORIZON_SCALE
        year["initial_wealth"] = w0
        for column in CASH_TRAJECTORY_COLUMNS:
            obs[:, column] = cash_trajectory_feature(column, cash, year)
        pv_inf = year["pv_infusions"]
        pv_cost = year["pv_cost"]
        safe_cost = np.where(pv_cost > 0, pv_cost, 1.0)
        obs[:, 8] = np.where(pv_cost > 0, np.minimum(np.log1p(pv_inf / safe_cost), LOG_CLIP), 0.0)
        remaining_u = year["remaining_utility"]
        obs[:, 9] = remaining_u / table.total_utility[rows]
        safe_u = np.where(remaining_u > 0, remaining_u, 1.0)
        obs[:, 10] = np.where(remaining_u > 0, year["utility_now"] / safe_u, 0.0)
        obs[:, 12] = year["years_to_next"]
        obs[:, 13] = year["goals_left"]
        obs[:, 14] = year["weighted_years"]
        active = t < horizon
        obs[:, 15] = np.where(active, table.decisions_per_year[rows, t] / K_MAX, 0.0)

        # Decision features on the flat list of (trajectory, decision) pairs that exist:
        # a year has a few decisions, far fewer than K_MAX.
        counts = np.where(active, table.decisions_per_year[rows, t], 0)
        who = np.repeat(np.arange(n), counts)
        column = np.arange(who.size) - np.repeat(np.cumsum(counts) - counts, counts)
        r, y = rows[who], t[who]
        cost = table.decision_cost[r, y, column]
        utility = table.decision_utility[r, y, column]
        cash_k, pv_cost_k, pv_inf_k = cash[who], pv_cost[who], pv_inf[who]
        affordable = cost <= cash_k
        later = year["pv_cost_after"][who]
        with np.errstate(divide="ignore", invalid="ignore"):
            funding = np.clip(np.log((cash_k - cost + pv_inf_k) / later), -LOG_CLIP, LOG_CLIP)
        funding = np.where(later > 0, funding, LOG_CLIP)
        features = np.empty((who.size, _ND))
        features[:, 0] = 1.0
        features[:, 1] = affordable
        features[:, 2] = np.minimum(cost / cash_k, COST_RATIO_CAP)
        features[:, 3] = utility / safe_u[who]
        features[:, 4] = np.where(pv_cost_k > 0, cost / safe_cost[who], 0.0)
        features[:, 5] = np.where(affordable, funding, -LOG_CLIP)
        decisions = obs[:, DECISION_BLOCK].reshape(n, K_MAX, _ND)
        decisions[who, column] = features
        obs[:, PORTFOLIO_BLOCK] = self._portfolio_block[rows]

        ahead = self._ahead[rows, t]
        exists = ahead > 0
        later_cost = np.where(exists, self._ahead_cost[rows, t], 1.0)
        upcoming = obs[:, UPCOMING_BLOCK].reshape(n, UPCOMING_GOAL_YEARS, _NU)
        upcoming[..., 0] = exists
        upcoming[..., 1] = ahead / HORIZON_SCALE
        log_ratio = np.log(later_cost / cash[:, None])
        upcoming[..., 2] = np.where(exists, np.clip(log_ratio, -LOG_CLIP, LOG_CLIP), 0.0)
        upcoming[..., 3] = np.where(exists, self._ahead_utility[rows, t] / safe_u[:, None], 0.0)
        growth = log_ratio - self._best_drift[rows][:, None] * ahead
        upcoming[..., 4] = np.where(exists, np.clip(growth, -LOG_CLIP, LOG_CLIP), 0.0)
        offers = self._ahead_offers[rows, t]
        for column, offer in ((5, 0), (7, 2)):
            upcoming[..., column] = np.where(
                exists, clipped_log_cost_to_cash(offers[..., offer], cash[:, None]), 0.0)
            upcoming[..., column + 1] = np.where(exists, offers[..., offer + 1]
                                                 / safe_u[:, None], 0.0)
        return obs


def cash_trajectory_feature(column: int, cash: np.ndarray,
                            year: Mapping[str, float | np.ndarray]) -> np.ndarray:
    """Trajectory feature ``column`` (one of :data:`CASH_TRAJECTORY_COLUMNS`), float64, from
    the cash at hand and the year's aggregates ``year`` (the names of
    :meth:`UniversalObservation.year_quantities`): the one formula of each such feature,
    which the encoder and the pretrained policy's fast path both use."""
    pv_infusions = year["pv_infusions"]
    if column == 7:
        return np.minimum(np.log1p(pv_infusions / cash), LOG_CLIP)
    numerator = cash + pv_infusions if column == 6 else cash
    return clipped_log_ratio(numerator, year[_CASH_FEATURE_AGGREGATE[column]])


def varying_cash_columns(year: Mapping[str, float | np.ndarray]) -> tuple[int, ...]:
    """The columns of :data:`CASH_TRAJECTORY_COLUMNS` that vary with the cash in a year with
    the aggregates ``year`` (a feature whose aggregate is 0 is the constant 0)."""
    return tuple(c for c in CASH_TRAJECTORY_COLUMNS
                 if np.any(np.asarray(year[_CASH_FEATURE_AGGREGATE[c]]) > 0))


def clipped_log_cost_to_cash(cost: np.ndarray, cash: np.ndarray) -> np.ndarray:
    """log(cost / cash) clipped to [-LOG_CLIP, LOG_CLIP] (a free decision: -LOG_CLIP)."""
    with np.errstate(divide="ignore"):
        return np.clip(np.log(cost / cash), -LOG_CLIP, LOG_CLIP)


def clipped_log_ratio(numerator: np.ndarray, denominator: np.ndarray | float) -> np.ndarray:
    """log(numerator / denominator) clipped to [-LOG_CLIP, LOG_CLIP]; 0 where denominator <= 0."""
    positive = denominator > 0
    safe = np.where(positive, denominator, 1.0)
    return np.where(positive, np.clip(np.log(numerator / safe), -LOG_CLIP, LOG_CLIP), 0.0)


def universal_observation(problem: GBWMProblem, t: int, wealth: np.ndarray | float) -> np.ndarray:
    """The universal observation of ``problem`` at year ``t`` for each wealth, shape (n, size)."""
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) \
            or not 0 <= t <= problem.horizon:
        raise ValueError(f"t must be an integer in 0..{problem.horizon}, got {t!r}")
    table = ProblemTable.from_problems([problem], max_decisions=None)
    encoder = UniversalObservation(table)
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    size = wealth.shape[0]
    return encoder.encode(np.zeros(size, dtype=np.intp), np.full(size, int(t)), wealth)
