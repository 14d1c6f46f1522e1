"""``CriticLookahead``: a trained per-problem model's policy improved by its own critic.

PPO's portfolio head learns from advantages that carry the whole market noise of a
year, so near an affordability threshold it often holds a portfolio a step or two away
from the best one, while the value network it trained beside it already ranks the
portfolios well. This policy makes one step of policy improvement with that value
network ``V`` and the problem's known one-year law: for each of the ``decisions`` most
likely goal decisions ``d`` and every portfolio ``j`` it computes

    Q(d, j) = s r(d) + S_t E[ s r_T + gamma V(t + 1, W'_j, x') ]

(``s`` the reward scale the model trained with, ``S_t`` the probability of living
through the year, ``r_T`` the automatic take's utility where ``t + 1 = T``, 0 otherwise,
and ``x'`` next year's regime, inflation rate and price level) and takes the best pair.

How the expectation is taken. ``V`` is read once a year on a fine uniform log-wealth
grid (4,096 points, about 0.005 apart; x 81 inflation rates across the observation's
clip range; with nominal amounts 2,048 x 41 rates x 17 price levels spanning the paths'
next ones), mixed over next year's regimes (an exact sum with the transition row), and
smoothed by each portfolio's shock law: a convolution with the probabilities of the grid
cells (:func:`~gbwm_sb3.evaluation.value_grid.smooth_rows`), so the jumps of ``V`` where a
goal becomes affordable are integrated, not sampled. ``Q`` then reads that at each
decision's cash plus the portfolio's log-drift (and, under inflation, at each
Gauss-Hermite node of the innovation: the correlated part of the shock, the next rate and
the next price level). A plan that ends in the year (bankruptcy) continues with 0.

By the policy improvement theorem the greedy choice on ``Q`` is at least as good as the
model's own policy up to the critic's errors; the evaluator scores it against the DP like
any other policy, so any such error shows. It is a decision rule on top of the trained
model (it reads the model's critic and the problem's dynamics), not a change to the
network: the SB3 policy itself is unchanged.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from gbwm_sb3.envs.dynamics import (
    apply_decisions,
    can_end,
    has_nominal,
    problem_table,
    take_final,
)
from gbwm_sb3.envs.observation import INFLATION_CLIP, LOG_CLIP, WEALTH_FLOOR
from gbwm_sb3.evaluation.critic_sources import CriticSource, critic_source
from gbwm_sb3.evaluation.value_grid import (
    LEVEL_POINTS,
    NOMINAL_RATE_POINTS,
    NOMINAL_WEALTH_POINTS,
    RATE_POINTS,
    WEALTH_POINTS,
    SmoothedValues,
    gauss_hermite,
    smooth_rows,
)
from gbwm_sb3.problem.market import LognormalMarket, Market
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.regimes import RegimeMarket

__all__ = ["CriticLookahead", "DEFAULT_DECISIONS", "DEFAULT_INFLATION_NODES"]

#: Goal decisions compared a year, the network's likeliest first.
DEFAULT_DECISIONS = 4
#: Gauss-Hermite points of the year's inflation innovation.
DEFAULT_INFLATION_NODES = 5
#: Rows (paths x decisions x portfolios x innovation nodes) per pass.
_ROWS_PER_PASS = 1 << 18
#: Log-wealth beyond the observation's clip range on either side of the grid.
_GRID_MARGIN = 1.0
_TINY = 1e-300


class CriticLookahead:
    """``network``'s policy on ``problem``, each year's action chosen by one step of
    lookahead with the network's own value function (see the module docstring).

    ``network``: an SB3 ``PPO`` / ``MaskablePPO`` model trained on the problem's env, or a
    pretrained policy acting for the problem (``pretrained_policy(problem)``,
    ``fine_tune(problem, ...)``; lognormal markets only, as it is).
    ``decisions`` (1-64): goal decisions compared, the network's likeliest first (1: its
    own goal decision, every portfolio compared); ``inflation_nodes`` (1-16): Gauss-Hermite
    points of the inflation innovation. ``reward_scale`` (SB3 models): what the model's
    rewards were multiplied by in training (the ``tuned`` preset: ``1 /
    problem.total_utility``); None reads it from the model's env (a
    :class:`~gbwm_sb3.envs.vec_env.GBWMVecEnv`), which a model loaded from disk does not
    have: pass it then. Deterministic: the same inputs give the same actions. The ``act``
    signature is :class:`~gbwm_sb3.evaluation.SB3Policy`'s.
    """

    def __init__(self, network: Any, problem: GBWMProblem, decisions: int = DEFAULT_DECISIONS,
                 inflation_nodes: int = DEFAULT_INFLATION_NODES,
                 reward_scale: float | None = None) -> None:
        if not isinstance(problem, GBWMProblem):
            raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
        for name, value, high in (("decisions", decisions, 64),
                                  ("inflation_nodes", inflation_nodes, 16)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not 1 <= value <= high:
                raise ValueError(f"{name} must be an integer in 1..{high}, got {value!r}")
        self.source: CriticSource = critic_source(network, problem, reward_scale)
        self.network, self.problem = network, problem
        self.decisions = int(decisions)
        self.inflation_nodes = int(inflation_nodes)
        self.reward_scale, self.gamma = self.source.reward_scale, self.source.gamma
        self._table = problem_table(problem)
        market = problem.market
        self._regimes = market if isinstance(market, RegimeMarket) else None
        self._laws: list[Market | None] = [
            None if isinstance(market, (LognormalMarket, RegimeMarket))
            else market.portfolio_law(j) for j in range(problem.num_portfolios)]
        self._grids: dict[tuple[int, Any], Any] = {}  # the current call's critic grids
        self._level_span: tuple[float, float] | None = None
        self._innovations = (gauss_hermite(self.inflation_nodes)
                             if problem.inflation is not None else (np.zeros(1), np.ones(1)))

    def reset(self) -> None:
        """Nothing to restart: the policy is deterministic."""

    def act(self, t: int, wealth: np.ndarray, regime: np.ndarray | None = None,
            inflation: np.ndarray | None = None, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """``(decision, portfolio)`` per path at year ``t`` (a bool take for the paper
        family); ``regime``, ``inflation``, ``price_level`` as for ``SB3Policy.act``."""
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        self._check_state(regime, inflation, price_level)
        self._grids = {}
        self._set_level_span(inflation, price_level)
        if self.decisions == 1:
            candidates = self.source.own(t, wealth, regime, inflation, price_level)[:, None]
        else:
            candidates = self.source.ranked(t, wealth, self.decisions, regime, inflation,
                                            price_level)
        best = np.empty((wealth.size, 2), dtype=np.intp)
        per_path = candidates.shape[1] * self.problem.num_portfolios * (
            self._innovations[0].size)
        chunk = max(1, _ROWS_PER_PASS // per_path)
        for start in range(0, wealth.size, chunk):
            part = slice(start, start + chunk)
            best[part] = self._best(t, wealth[part], candidates[part],
                                    None if regime is None else np.asarray(regime)[part],
                                    None if inflation is None else np.asarray(inflation)[part],
                                    None if price_level is None
                                    else np.asarray(price_level)[part])
        take = best[:, 0] if not self.problem.in_paper_family else best[:, 0] != 0
        return take, best[:, 1]

    def q_values(self, t: int, wealth: np.ndarray, decision: np.ndarray | int,
                 regime: np.ndarray | None = None, inflation: np.ndarray | None = None,
                 price_level: np.ndarray | None = None) -> np.ndarray:
        """(N, n_portfolios): ``Q(d, j)`` of each path's ``decision`` and every portfolio, in
        the critic's units (rewards times the reward scale): what :meth:`act` compares."""
        if not isinstance(t, (int, np.integer)) or not 0 <= t < self.problem.horizon:
            raise ValueError(f"t must be an integer in 0..{self.problem.horizon - 1}, "
                             f"got {t!r}")
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        self._check_state(regime, inflation, price_level)
        decision = np.broadcast_to(np.asarray(decision, dtype=np.intp), wealth.shape)
        self._grids = {}
        self._set_level_span(inflation, price_level)
        return self._q(int(t), wealth, decision[:, None].copy(), regime, inflation,
                       price_level)[:, 0, :]

    def _check_state(self, regime: np.ndarray | None, inflation: np.ndarray | None,
                     price_level: np.ndarray | None) -> None:
        """A ValueError naming the state a call must give for this problem and did not."""
        if self._regimes is not None and regime is None:
            raise ValueError("regime: this problem's market has regimes; act needs each "
                             "path's current regime")
        if self.problem.inflation is not None and inflation is None:
            raise ValueError("inflation: this problem has stochastic inflation; act needs "
                             "each path's current rate")
        if has_nominal(self._table) and price_level is None:
            raise ValueError("price_level: this problem has nominal amounts; act needs each "
                             "path's price level")

    def _best(self, t: int, wealth: np.ndarray, candidates: np.ndarray,
              regime: np.ndarray | None, inflation: np.ndarray | None,
              price_level: np.ndarray | None) -> np.ndarray:
        """(N, 2): the (decision, portfolio) with the largest ``Q`` for each path (ties:
        the likelier decision, then the lower portfolio)."""
        n_portfolios = self.problem.num_portfolios
        q = self._q(t, wealth, candidates, regime, inflation, price_level).reshape(
            wealth.size, -1)
        flat = q.argmax(axis=1)
        chosen = np.take_along_axis(candidates, (flat // n_portfolios)[:, None], axis=1)[:, 0]
        return np.column_stack([chosen, flat % n_portfolios])

    def _q(self, t: int, wealth: np.ndarray, candidates: np.ndarray,
           regime: np.ndarray | None, inflation: np.ndarray | None,
           price_level: np.ndarray | None) -> np.ndarray:
        """(N, C, n): ``Q`` of each path's candidate decisions and every portfolio: next
        year's value on the grid, smoothed once a call by each portfolio's shock law
        (:meth:`_smoothed`), read at each decision's cash plus the portfolio's log-drift
        (and, under inflation, at each innovation node's correlated shift, next rate and
        next price level)."""
        table, problem = self._table, self.problem
        n_paths, n_candidates = candidates.shape
        path = np.repeat(np.arange(n_paths), n_candidates)
        level = None if price_level is None else np.asarray(price_level, dtype=np.float64)[path]
        ended = np.zeros(path.size, dtype=bool) if can_end(table) else None
        cash, reward_now, _ = apply_decisions(table, 0, t, wealth[path], candidates.ravel(),
                                              ended, level)
        smooth = self._smoothed(t)
        current = (np.zeros(path.size, dtype=np.intp) if regime is None
                   else np.asarray(regime, dtype=np.intp)[path])
        eps, eps_weight = self._innovations
        y = np.log(np.maximum(cash, _TINY))[:, None, None] + smooth.drift[current][:, :, None]
        rate = next_level = None
        if inflation is not None and problem.inflation is not None:
            rate = problem.inflation.next_rate(np.asarray(inflation)[path][:, None],
                                               eps[None, :])[:, None, :]  # (rows, 1, E)
            y = y + smooth.tilt[current][:, :, None] * eps[None, None, :] - rate
            if level is not None:
                next_level = level[:, None, None] * np.exp(rate)
        shape = y.shape
        later = smooth.read(np.broadcast_to(current[:, None, None], shape),
                            np.broadcast_to(np.arange(problem.num_portfolios)[None, :, None],
                                            shape), y,
                            None if rate is None else np.broadcast_to(rate, shape),
                            None if next_level is None else np.broadcast_to(next_level, shape))
        later = later @ eps_weight  # (rows, n)
        if ended is not None:
            later = np.where(ended[:, None], 0.0, later)
        q = reward_now[:, None] * self.reward_scale + float(table.survival[0, t]) * later
        return q.reshape(n_paths, n_candidates, problem.num_portfolios)

    def _smoothed(self, t: int) -> SmoothedValues:
        """Next year's value (``gamma V`` on the grid, mixed over next year's regimes; at
        ``t + 1 = T`` the automatic take's utility), smoothed by each portfolio's shock in
        each current regime: ``E[g(y + s_rj Z)]`` on the grid, ``Z`` in the portfolio's law
        (under inflation: its part independent of the inflation innovation)."""
        key = (t, "smoothed")
        if key in self._grids:
            return cast(SmoothedValues, self._grids[key])
        table, problem = self._table, self.problem
        n = problem.num_portfolios
        regimes = 1 if self._regimes is None else self._regimes.transition_matrix.shape[0]
        log_wealth, rates, levels = self._grid_axes()
        if t + 1 == problem.horizon:
            mixed = np.broadcast_to(self._final_values(log_wealth, rates, levels),
                                    (regimes, *self._axes_shape(log_wealth, rates, levels)))
        else:
            base = self.gamma * np.stack([
                self._critic_grid(t + 1, None if self._regimes is None else r, log_wealth,
                                  rates, levels) for r in range(regimes)])  # (R', K, L, G)
            mixed = base if self._regimes is None else np.einsum(
                "rs,sklg->rklg", self._regimes.transition_matrix, base)
        if self._regimes is None:
            drift = table.log_drifts[0, :n][None, :]
            sigma = table.volatilities[0, :n][None, :]
        else:
            assert table.regime_log_drifts is not None and table.regime_volatilities is not None
            drift = table.regime_log_drifts[0, :regimes, :n]
            sigma = table.regime_volatilities[0, :regimes, :n]
        rho = table.inflation_correlation[0, :n][None, :] if rates is not None else 0.0
        width = sigma * np.sqrt(1.0 - rho * rho)
        step = float(log_wealth[1] - log_wealth[0])
        smoothed = np.empty((regimes, n) + mixed.shape[1:])
        for r in range(regimes):
            for j in range(n):
                smoothed[r, j] = smooth_rows(mixed[r], self._laws[j], float(width[r, j]),
                                             step)
        result = SmoothedValues(log_wealth, rates, levels, smoothed, drift, sigma * rho)
        self._grids[key] = result
        return result

    @staticmethod
    def _axes_shape(log_wealth: np.ndarray, rates: np.ndarray | None,
                    levels: np.ndarray | None) -> tuple[int, int, int]:
        return (1 if rates is None else rates.size, 1 if levels is None else levels.size,
                log_wealth.size)

    def _grid_rows(self, log_wealth: np.ndarray, rates: np.ndarray | None,
                   levels: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Wealth, rate and price level of every grid point, ordered (rate, level, wealth)."""
        shape = self._axes_shape(log_wealth, rates, levels)
        index = np.indices(shape).reshape(3, -1)
        wealth = np.exp(log_wealth)[index[2]]
        return (wealth, None if rates is None else rates[index[0]],
                None if levels is None else np.exp(levels)[index[1]])

    def _final_values(self, log_wealth: np.ndarray, rates: np.ndarray | None,
                      levels: np.ndarray | None) -> np.ndarray:
        """The automatic take's utility at ``T`` (times the scale) on the grid, (K, L, G)."""
        wealth, _, level = self._grid_rows(log_wealth, rates, levels)
        final = take_final(self._table, 0, wealth, None, level)[1] * self.reward_scale
        return final.reshape(self._axes_shape(log_wealth, rates, levels))

    def _critic_grid(self, t: int, regime: int | None, log_wealth: np.ndarray,
                     rates: np.ndarray | None, levels: np.ndarray | None) -> np.ndarray:
        """The critic at year ``t`` in regime ``regime`` on the grid, (K, L, G)."""
        wealth, rate, level = self._grid_rows(log_wealth, rates, levels)
        regimes = None if regime is None else np.full(wealth.size, regime)
        values = self.source.values(t, wealth, regimes, rate, level)
        return values.reshape(self._axes_shape(log_wealth, rates, levels))

    def _grid_axes(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The log-wealth grid, the inflation-rate grid (None without inflation) and the
        log-price-level grid (None without nominal amounts: set per call from the paths'
        price levels, :meth:`_set_level_span`)."""
        table = self._table
        initial = float(table.initial_wealth[0])
        largest = max(initial, float(np.nanmax(table.remaining_cost[0])),
                      float(np.abs(table.future_infusions[0]).max()))
        low = math.log(initial * WEALTH_FLOOR) - _GRID_MARGIN
        high = math.log(largest) + LOG_CLIP + _GRID_MARGIN
        model = self.problem.inflation
        nominal = self._level_span is not None
        rates = None
        if model is not None:
            _, spread = model.stationary_moments()
            count = (NOMINAL_RATE_POINTS if nominal else RATE_POINTS) if spread > 0 else 1
            rates = model.mean + spread * np.linspace(-INFLATION_CLIP, INFLATION_CLIP, count)
        levels = None
        if self._level_span is not None:
            lo, hi = self._level_span
            levels = np.linspace(lo, hi, LEVEL_POINTS) if hi > lo else np.array([lo])
        points = NOMINAL_WEALTH_POINTS if nominal else WEALTH_POINTS
        return np.linspace(low, high, points), rates, levels

    def _set_level_span(self, inflation: np.ndarray | None,
                        price_level: np.ndarray | None) -> None:
        """The range of next year's log price levels over these paths and the innovation
        nodes (None without a price level)."""
        self._level_span = None
        if price_level is None or inflation is None or self.problem.inflation is None:
            return
        eps = self._innovations[0]
        following = self.problem.inflation.next_rate(np.asarray(inflation)[:, None],
                                                     eps[None, :])
        log_level = np.log(np.asarray(price_level, dtype=np.float64))[:, None] + following
        self._level_span = (float(log_level.min()), float(log_level.max()))
