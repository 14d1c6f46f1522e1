"""``GBWMEnv``: one goals-based wealth management trajectory as a Gymnasium env.

One step per year ``t = 0..T-1``. The action ``(take, portfolio)`` first
decides this year's goal (taken only if a goal sits at ``t`` and the wealth
covers its cost), then picks the portfolio that wealth grows in for the year.
After the last step's growth the goal at ``T`` (if any) is taken automatically
when affordable, and its utility is part of that step's reward. The mechanics
live in :mod:`gbwm_sb3.dynamics` and the observation in
:mod:`gbwm_sb3.observation`, shared with :class:`gbwm_sb3.vec_env.GBWMVecEnv`.
For a problem of the general class the first action component is a decision
index into ``problem.decisions(t)`` (see docs/env.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from gbwm_sb3.common.limits import check_horizon
from gbwm_sb3.envs.draws import regime_market
from gbwm_sb3.envs.dynamics import (
    ProblemTable,
    can_end,
    dies,
    goals_in_decision,
    has_mortality,
    has_nominal,
    has_withdrawals,
    problem_table,
    step_year,
)
from gbwm_sb3.envs.observation import (
    decision_affordable,
    encode_observation,
    observation_bounds,
)
from gbwm_sb3.problem.model import GBWMProblem, paper_problem

__all__ = ["GBWMEnv", "resolve_problem", "validate_actions", "ENV_ID"]

ENV_ID = "GBWM-v0"
_ENTRY_POINT = "gbwm_sb3.envs:GBWMEnv"
_DEFAULT_NUM_GOALS = 4


def resolve_problem(problem: GBWMProblem | None = None,
                    num_goals: int | None = None) -> GBWMProblem:
    """The problem an env runs: ``problem``, else ``paper_problem(num_goals)``, else 4 goals.

    A horizon beyond :data:`~gbwm_sb3.common.limits.MAX_HORIZON` years is refused (no
    policy could be scored against the DP optimum, and rollouts grow with it).
    """
    if problem is not None and num_goals is not None:
        raise ValueError(
            "give either problem= (a GBWMProblem) or num_goals= (a paper problem), not both; "
            f"got problem={problem!r} and num_goals={num_goals!r}"
        )
    if problem is not None:
        if not isinstance(problem, GBWMProblem):
            raise ValueError(
                f"problem must be a GBWMProblem, got {type(problem).__name__}"
            )
        check_horizon(problem.horizon)
        return problem
    if num_goals is None:
        return paper_problem(_DEFAULT_NUM_GOALS)
    return paper_problem(num_goals)  # validates num_goals against PAPER_NUM_GOALS


def validate_actions(actions: Any, num_portfolios: int, shape: tuple[int, ...],
                     num_decisions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Check actions of ``shape`` (last axis: take flag or decision, portfolio) and split them.

    Returns ``(take, portfolio)``: for ``num_decisions == 2`` (the paper family) a
    bool take flag, otherwise the integer decision index, and integer portfolios,
    arrays of ``shape[:-1]``. Raises a ValueError naming the offending field;
    nothing is ever wrapped or clipped.
    """
    try:
        array = np.asarray(actions)
    except (TypeError, ValueError):
        raise ValueError(
            f"action must be an integer array of shape {shape} (take flag, portfolio), "
            f"got {actions!r}"
        ) from None
    if array.shape != shape:
        raise ValueError(
            f"action must have shape {shape} (take flag, portfolio index), got shape {array.shape}"
        )
    if array.dtype.kind in "iu":
        integers = array
    elif (array.dtype.kind == "f" and np.all(np.isfinite(array))
          and np.all(array == np.round(array))):
        integers = array.astype(np.int64)
    else:
        raise ValueError(
            f"action must contain integers (take flag, portfolio index), got {array.tolist()!r} "
            f"of dtype {array.dtype}"
        )
    take = integers[..., 0]
    portfolio = integers[..., 1]
    if num_decisions != 2:
        bad_decision = (take < 0) | (take >= num_decisions)
        if np.any(bad_decision):
            where = _first_bad(bad_decision)
            raise ValueError(
                f"action[0] (decision index) must be in 0..{num_decisions - 1}, "
                f"got {take[where]}{_where_text(where)}"
            )
    bad_take = (take != 0) & (take != 1) if num_decisions == 2 else np.zeros(take.shape, bool)
    if np.any(bad_take):
        where = _first_bad(bad_take)
        raise ValueError(
            f"action[0] (take goal flag) must be 0 or 1, got {take[where]}{_where_text(where)}"
        )
    bad_portfolio = (portfolio < 0) | (portfolio >= num_portfolios)
    if np.any(bad_portfolio):
        where = _first_bad(bad_portfolio)
        raise ValueError(
            f"action[1] (portfolio index) must be in 0..{num_portfolios - 1}, "
            f"got {portfolio[where]}{_where_text(where)}"
        )
    if num_decisions != 2:
        return take.astype(np.intp), portfolio.astype(np.intp)
    return take.astype(bool), portfolio.astype(np.intp)


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _where_text(where: tuple[int, ...]) -> str:
    return f" (env {where[0]})" if where else ""


class GBWMEnv(gym.Env[np.ndarray, np.ndarray]):
    """One GBWM trajectory as a Gymnasium env, registered as ``GBWM-v0``.

    ``GBWMEnv()`` runs the paper's 4-goal problem; ``GBWMEnv(num_goals=8)`` another
    paper problem; ``GBWMEnv(problem=my_problem)`` any :class:`GBWMProblem`.
    Actions are ``MultiDiscrete([K, n])``: (decision index into ``problem.decisions(t)``,
    portfolio index); ``K = 2`` (skip, take) for the paper's family. Observations are
    the scale-invariant features of :mod:`gbwm_sb3.envs.observation`
    (``decision_features=True``, general class: with each decision's own features, for
    ``GBWMPolicy(decision_goal_head=True)``).
    Reward: utility of the goals taken in the step (incl. the automatic take at ``T``).
    For a problem of the general class, ``info["levels"]`` maps each goal label due in
    the step to the level taken (0 = skipped), the automatic choice at ``T`` included.

    A market with regimes (:class:`~gbwm_sb3.problem.regimes.RegimeMarket`): the episode
    starts in the market's initial regime; each step draws the year's normal ``N`` from
    ``np_random`` (or the queue), grows wealth by the shock ``m_r + s_r N`` of the year's
    regime ``r``, then draws the death (a survival table) and one uniform for next year's
    regime. :attr:`regime` and ``info["regime"]`` give the current regime and the
    observation ends with its one-hot.

    Stochastic inflation (``problem.inflation``): the episode starts at the initial rate
    ``pi_0`` and a price level of 1; each step draws, after the year's other draws (normal,
    death, regime), one standard normal ``eps`` from ``np_random``, the year's inflation
    innovation, grows real wealth with it (``dynamics.grow(..., inflation=)``) and moves
    the rate and price level on. Wealth (:attr:`wealth`, ``info["wealth"]``) is real,
    in today's money; nominal wealth is ``wealth * price_level``. :attr:`inflation` /
    ``info["inflation"]`` give the current rate ``pi_t``, :attr:`price_level` /
    ``info["price_level"]`` the price level ``P_t``, and the observation ends with the
    standardised rate.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, problem: GBWMProblem | None = None, num_goals: int | None = None,
                 render_mode: str | None = None, decision_features: bool = False) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None, 'ansi' or 'rgb_array', got {render_mode!r}"
            )
        self.problem = resolve_problem(problem, num_goals)
        self._table = problem_table(self.problem)
        self._ended = np.zeros(1, dtype=bool) if can_end(self._table) else None
        self._dead = np.zeros(1, dtype=bool)
        self._withdrawals = has_withdrawals(self._table)
        self._mortality = has_mortality(self._table)
        n = self.problem.num_portfolios
        self.num_decisions = int(self._table.num_decisions[0])
        self.action_space = spaces.MultiDiscrete([self.num_decisions, n])
        low, high = observation_bounds(self._table, decision_features)
        self.decision_features = bool(decision_features)
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.render_mode = render_mode
        # The spec that rebuilds this env (gym.make replaces it with its own).
        kwargs: dict[str, Any] = {"problem": self.problem}
        if self.decision_features:
            kwargs["decision_features"] = True
        self.spec = EnvSpec(ENV_ID, entry_point=_ENTRY_POINT, kwargs=kwargs)
        self._t: int | None = None
        self._wealth = float(self._table.initial_wealth[0])
        self._utility = 0.0
        self._goals_taken = 0
        self._queued_draws = np.empty(0)
        self._regimes = regime_market(self.problem.market)
        self._regime = 0 if self._regimes is None else self._regimes.initial_index
        self._inflation_model = self.problem.inflation
        self._rate = 0.0 if self._inflation_model is None else self._inflation_model.initial_rate
        self._price_level = 1.0
        self._nominal = has_nominal(self._table)

    # ----- state -----
    @property
    def time(self) -> int | None:
        """The current year ``t`` (``None`` before the first reset)."""
        return self._t

    @property
    def wealth(self) -> float:
        """The current (pre-decision) wealth."""
        return float(self._wealth)

    @property
    def regime(self) -> int | None:
        """The market regime of the current year (``None`` for a market without regimes)."""
        return None if self._regimes is None else self._regime

    @property
    def inflation(self) -> float | None:
        """The inflation rate ``pi_t`` of the current year (at the start the initial rate;
        ``None`` without stochastic inflation)."""
        return None if self._inflation_model is None else float(self._rate)

    @property
    def price_level(self) -> float | None:
        """The price level ``P_t`` (1 at the start; wealth is real, ``wealth *
        price_level`` nominal); ``None`` without stochastic inflation."""
        return None if self._inflation_model is None else float(self._price_level)

    def queue_normal_draws(self, draws: Sequence[float] | np.ndarray) -> None:
        """Use these N(0, 1) draws, in order, for the next steps before drawing from ``np_random``.

        Lets tests and evaluations feed common random numbers (e.g. the same draws to
        ``GBWMEnv`` and ``GBWMVecEnv``); queued draws survive ``reset``. For a market with
        regimes they are the normals ``N`` within the year's regime.
        """
        values = np.asarray(draws, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(values)):
            raise ValueError("draws must be finite numbers")
        self._queued_draws = np.concatenate([self._queued_draws, values])

    def _next_draw(self) -> float:
        """The year's shock ``Z`` (the innovation ``N`` for a market with regimes)."""
        if self._queued_draws.size:
            draw, self._queued_draws = float(self._queued_draws[0]), self._queued_draws[1:]
            return draw
        return self.problem.market.draw_shock(self.np_random)

    # ----- gymnasium API -----
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a trajectory at ``t = 0`` with ``W = W0``; ``seed`` re-seeds ``np_random``."""
        super().reset(seed=seed)
        self._t = 0
        self._wealth = float(self._table.initial_wealth[0])
        if self._ended is not None:
            self._ended[:] = False
        self._dead[:] = False
        self._utility = 0.0
        self._goals_taken = 0
        if self._regimes is not None:
            self._regime = self._regimes.initial_index
        if self._inflation_model is not None:
            self._rate = self._inflation_model.initial_rate
            self._price_level = 1.0
        return self._observation(), self._info(False, False)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply (take, portfolio) for year ``t`` and move to ``t + 1``."""
        if self._t is None or self._t >= self.problem.horizon:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        take, portfolio = self._checked_action(action)
        t = self._t
        shock = np.array([self._next_draw()])
        died = None
        if self._mortality and self._ended is not None:  # death during the year
            died = dies(self._table, 0, t, np.array([self.np_random.random()]))
            self._dead |= died & ~self._ended
        regime = None if self._regimes is None else np.array([self._regime])
        if self._regimes is not None:  # next year's regime, after the year's draws
            self._regime = int(self._regimes.next_regime(np.intp(self._regime),
                                                         np.float64(self.np_random.random())))
        inflation = None
        if self._inflation_model is not None:  # the year's inflation, drawn last
            innovation = np.array([self.np_random.standard_normal()])
            inflation = (innovation, self._inflation_model.next_rate(
                np.array([self._rate]), innovation))
        wealth, reward, taken, taken_final = step_year(
            self._table, t, np.array([self._wealth]), take, portfolio, shock, self._ended,
            died, regime, inflation, self._levels_now())
        if inflation is not None:
            self._rate = float(inflation[1][0])
            self._price_level *= math.exp(self._rate)
        self._wealth = float(wealth[0])
        self._t = t + 1
        reward_value = float(reward[0])
        self._utility += reward_value
        terminated = self._t == self.problem.horizon
        applied, final = int(taken[0]), int(taken_final[0])
        self._goals_taken += int(goals_in_decision(self._table, 0, t, taken)[0])
        if terminated:
            self._goals_taken += int(goals_in_decision(self._table, 0, t + 1, taken_final)[0])
        info = self._info(applied > 0, terminated and final > 0)
        if not self._table.paper_family[0]:
            info["decision"] = applied
            info["levels"] = self._levels(t, applied)
            if self._withdrawals and self._ended is not None:
                info["bankrupt"] = bool(self._ended[0] and not self._dead[0])
            if self._mortality:
                info["alive"] = not bool(self._dead[0])
            if terminated:
                info["final_decision"] = final
                info["levels"].update(self._levels(t + 1, final))
        return self._observation(), reward_value, terminated, False, info

    def _levels(self, t: int, decision: int) -> dict[str, int]:
        """Goal label -> level taken (0 = skipped) for the goals due at ``t``."""
        labels = dict(zip(self.problem.goals, self.problem.goal_labels, strict=True))
        chosen = self.problem.decisions(t)[decision]
        return {labels[g]: level for g, level in zip(chosen.goals, chosen.levels, strict=True)}

    def _checked_action(self, action: Any) -> tuple[np.ndarray, np.ndarray]:
        """(take, portfolio) as length-1 arrays; the common valid case skips the full check."""
        k = self.num_decisions
        if isinstance(action, np.ndarray) and action.shape == (2,) and action.dtype.kind in "iu":
            take, portfolio = action.tolist()
            if 0 <= take < k and 0 <= portfolio < self.problem.num_portfolios:
                decision = np.array([take == 1]) if k == 2 else np.array([take], dtype=np.intp)
                return decision, np.array([portfolio], dtype=np.intp)
        take, portfolio = validate_actions(action, self.problem.num_portfolios, (2,), k)
        return take.reshape(1), portfolio.reshape(1)

    def action_masks(self) -> np.ndarray:
        """Valid actions, flat ``[decision 0..K-1, portfolio 0..n-1]`` (sb3-contrib convention).

        A decision is valid only where it exists at ``t < T`` and its cost is at most the
        cash at hand; decision 0 (take nothing) always is. For the paper family:
        ``[skip, take, portfolios...]``, take valid where the goal is affordable.
        """
        k = self.num_decisions
        mask = np.ones(k + self.problem.num_portfolios, dtype=bool)
        t = self._t if self._t is not None else 0
        mask[:k] = decision_affordable(self._table, t, np.array([self._wealth]),
                                       self._levels_now())[0]
        mask[0] = True
        return mask

    def render(self) -> str | np.ndarray | None:
        """``ansi``: a one-line state summary; ``rgb_array``: three progress bars (time,
        wealth / next goal cost capped at 2, utility collected / utility on offer)."""
        if self.render_mode is None:
            return None
        t = self._t if self._t is not None else 0
        info = self._info(False, False)
        next_cost = self._table.next_cost[0, min(t, self.problem.horizon)]
        if self.render_mode == "ansi":
            cost_text = f"{next_cost:.6g}" if np.isfinite(next_cost) else "none"
            return (f"t={t}/{self.problem.horizon} wealth={self._wealth:.6g} "
                    f"next goal cost={cost_text} utility={self._utility:.6g} "
                    f"goals taken={info['goals_taken']}/{info['goals_offered']}\n")
        coverage = self._wealth / next_cost if np.isfinite(next_cost) and next_cost > 0 else 2.0
        total = self.problem.total_utility
        bars = (
            (t / self.problem.horizon, (128, 128, 128)),
            (min(coverage, 2.0) / 2.0, (40, 160, 40) if coverage >= 1.0 else (200, 40, 40)),
            (self._utility / total if total > 0 else 0.0, (40, 80, 200)),
        )
        image = np.full((48, 160, 3), 255, dtype=np.uint8)
        for row, (fraction, colour) in enumerate(bars):
            width = int(round(160 * min(max(fraction, 0.0), 1.0)))
            image[4 + 16 * row: 12 + 16 * row, :width] = colour
        return image

    # ----- helpers -----
    def _observation(self) -> np.ndarray:
        assert self._t is not None
        return encode_observation(self._table, self._t, np.array([self._wealth]),
                                  self.decision_features, self.regime, self.inflation,
                                  self._levels_now())[0]

    def _levels_now(self) -> np.ndarray | None:
        """The price level as the year kernel takes it: for nominal amounts only."""
        return np.array([self._price_level]) if self._nominal else None

    def _info(self, goal_taken: bool, final_goal_taken: bool) -> dict[str, Any]:
        assert self._t is not None
        info = {
            "wealth": float(self._wealth),
            "time": self._t,
            "goal_taken": goal_taken,
            "final_goal_taken": final_goal_taken,
            "goals_taken": self._goals_taken,
            "goals_offered": goals_offered(self._table, self._t),
            "utility": self._utility,
        }
        if self._regimes is not None:
            info["regime"] = self._regime
        if self._inflation_model is not None:
            info["inflation"] = float(self._rate)
            info["price_level"] = float(self._price_level)
        return info


def goals_offered(table: ProblemTable, t: int) -> int:
    """Goals offered once a trajectory of the one-problem ``table`` stands at year ``t``
    (decisions made for years < t). At ``t = T`` the goal at ``T`` counts too: its
    automatic take has happened.
    """
    horizon = int(table.horizon[0])
    if t <= 0:
        return 0
    if t >= horizon:
        return int(table.goals_offered_by[0, horizon])
    return int(table.goals_offered_by[0, t - 1])
