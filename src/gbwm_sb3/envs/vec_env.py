"""``GBWMVecEnv``: N trajectories of one GBWM problem, stepped together with numpy.

Every trajectory has exactly ``T`` steps, so all N run in lockstep: one shared year
``t`` and arrays of wealth, utility and goals taken. A step is a handful of numpy
operations on arrays of length N (:func:`~gbwm_sb3.envs.dynamics.step_year`, the year
kernel; the observation of :mod:`gbwm_sb3.envs.observation`, exactly as
:class:`~gbwm_sb3.envs.gbwm_env.GBWMEnv`). The ``VecEnv`` plumbing is
:class:`~gbwm_sb3.envs.array_vec_env.ArrayVecEnv`'s.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from gbwm_sb3.envs.array_vec_env import ArrayVecEnv, gc_paused
from gbwm_sb3.envs.dynamics import (
    can_end,
    dies,
    goals_in_decision,
    has_mortality,
    has_nominal,
    has_withdrawals,
    problem_table,
    step_year,
)
from gbwm_sb3.envs.gbwm_env import goals_offered, resolve_problem, validate_actions
from gbwm_sb3.envs.observation import (
    decision_affordable,
    encode_observation,
    goal_affordable,
    observation_bounds,
)
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["GBWMVecEnv"]


class GBWMVecEnv(ArrayVecEnv):
    """N trajectories of one GBWM problem, vectorised with numpy (an SB3 ``VecEnv``).

    ``GBWMVecEnv(4800)`` runs the paper's 4-goal problem; ``num_goals=`` and ``problem=``
    as for :class:`~gbwm_sb3.envs.gbwm_env.GBWMEnv`, whose spaces and dynamics these are:
    observation the scale-invariant features of :mod:`gbwm_sb3.envs.observation`, action
    ``MultiDiscrete([K, n])`` (decision index, ``K = 2`` take flag for the paper's family;
    portfolio index). All N episodes end together after step ``T``
    (``info["episode"]["l"] == T``) and the env resets itself. One
    ``numpy.random.Generator`` seeded with ``seed`` (or by :meth:`seed` before the next
    reset) draws all N normals of a year.

    ``decision_features=True`` (general class) appends each decision's features to the
    observation, as :class:`GBWMEnv` does.

    A market with regimes: every trajectory starts in the market's initial regime, each
    step draws the year's normals (made the shocks of each trajectory's regime), then the
    deaths (a survival table), then one uniform per trajectory for next year's regime,
    all from the one generator; :attr:`regimes` holds the current regimes, the
    observation ends with their one-hot, and ``step_info=True`` infos carry ``regime``.

    Stochastic inflation (``problem.inflation``): every trajectory starts at the initial
    rate and a price level of 1; each step draws, after the year's other draws (normals,
    deaths, regimes), one standard normal per trajectory, the inflation innovation
    ``eps``, grows real wealth with it (``dynamics.grow(..., inflation=)``) and moves the
    rates ``pi`` and price levels ``P``. :attr:`wealth` is real (today's money; nominal:
    ``wealth * price_level``), :attr:`inflation` and :attr:`price_level` hold the current
    rates and price levels, the observation ends with the standardised rate, and
    ``step_info=True`` infos carry ``inflation`` and ``price_level``.

    ``step_info=True`` adds the :class:`GBWMEnv` info keys to every info of every step
    (slower: a few ms per step for N = 4800); the same quantities are always available as
    arrays (:attr:`wealth`, :attr:`utility`, :attr:`goals_taken`, :attr:`time`).

    ``reward_scale`` multiplies the rewards PPO sees (e.g. ``1 / problem.total_utility``
    puts returns in [0, 1] for the value network); utilities in ``info["episode"]``,
    :attr:`utility` and the episode statistics stay in the problem's units.
    ``env_is_wrapped(Monitor)`` is True: the episode statistics are built in.
    """

    per_env_attributes: ClassVar[tuple[str, ...]] = ("wealth", "utility", "goals_taken")
    shared_attributes: ClassVar[tuple[str, ...]] = ("problem", "time",
                                                    *ArrayVecEnv.shared_attributes)
    monitor_built_in: ClassVar[bool] = True

    def __init__(self, num_envs: int, problem: GBWMProblem | None = None,
                 num_goals: int | None = None, seed: int | None = None,
                 step_info: bool = False, reward_scale: float = 1.0,
                 decision_features: bool = False) -> None:
        num_envs = self.check_num_envs(num_envs)
        seed = self.check_seed(seed)
        scale_ok = (isinstance(reward_scale, (int, float, np.floating))
                    and not isinstance(reward_scale, bool))
        if not scale_ok or not np.isfinite(reward_scale) or reward_scale <= 0:
            raise ValueError(f"reward_scale must be a finite number > 0, got {reward_scale!r}")
        self.reward_scale = float(reward_scale)
        self.problem = resolve_problem(problem, num_goals)
        self._table = problem_table(self.problem)
        self.market = self.problem.market
        self.inflation_model = self.problem.inflation
        self._withdrawals = has_withdrawals(self._table)
        self._mortality = has_mortality(self._table)
        self.step_info = bool(step_info)
        low, high = observation_bounds(self._table, decision_features)
        self.decision_features = bool(decision_features)
        self.num_decisions = int(self._table.num_decisions[0])
        super().__init__(
            num_envs,
            spaces.Box(low=low, high=high, dtype=np.float32),
            spaces.MultiDiscrete([self.num_decisions, self.problem.num_portfolios]),
        )
        self._draw_rng = np.random.default_rng(seed)
        self._restart_all()
        self._completed_utility: list[np.ndarray] = []
        self._completed_goals: list[np.ndarray] = []
        self._completed_affordable: list[np.ndarray] = []
        self._completed_offered = 0

    # ----- state (read-only views) -----
    @property
    def time(self) -> int:
        """The current year ``t``, shared by all trajectories."""
        return self._t

    @property
    def goals_taken(self) -> np.ndarray:
        """Goals taken so far in the current episode, shape (N,)."""
        return self._goals_taken.copy()

    @property
    def bankrupt(self) -> np.ndarray:
        """Whether each trajectory has gone bankrupt in the current episode (a withdrawal
        larger than its cash; always False for a plan without withdrawals), shape (N,)."""
        if self._ended is None or not self._withdrawals:
            return np.zeros(self.num_envs, dtype=bool)
        return self._ended & ~self._dead

    @property
    def alive(self) -> np.ndarray:
        """Whether each trajectory's investor is alive (always True without a survival
        table), shape (N,)."""
        return ~self._dead

    # ----- what ArrayVecEnv asks of a subclass -----
    def _reseed(self, seed: int) -> None:
        self._draw_rng = np.random.default_rng(seed)

    def _restart_all(self) -> None:
        self._t = 0
        self._wealth = np.full(self.num_envs, self._table.initial_wealth[0])
        self._utility = np.zeros(self.num_envs)
        self._goals_taken = np.zeros(self.num_envs, dtype=np.int64)
        self._goals_affordable = np.zeros(self.num_envs, dtype=np.int64)
        self._ended = np.zeros(self.num_envs, dtype=bool) if can_end(self._table) else None
        self._dead = np.zeros(self.num_envs, dtype=bool)
        self._restart_regimes()
        self._restart_inflation()

    def _observe(self) -> np.ndarray:
        return encode_observation(self._table, self._t, self._wealth, self.decision_features,
                                  self._regime, self._inflation, self._levels_now())

    def _levels_now(self) -> np.ndarray | None:
        """Each trajectory's price level as the year kernel takes it (nominal amounts only)."""
        return self._price_level if has_nominal(self._table) else None

    def _checked_actions(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return validate_actions(
            actions, self.problem.num_portfolios, (self.num_envs, 2), self.num_decisions
        )

    def _step(self, actions: tuple[np.ndarray, np.ndarray]) -> VecEnvStepReturn:
        take, portfolio = actions
        t = self._t
        table = self._table
        levels = self._levels_now()
        self._goals_affordable += goal_affordable(table, t, self._wealth, levels)
        # the year's draws in order: normals, deaths, next regimes, inflation innovations
        shocks = self._next_draws()
        died = self._deaths(t)
        regime = self._regime
        self._advance_regimes()
        inflation = self._draw_inflation()
        wealth, reward, taken, taken_final = step_year(
            table, t, self._wealth, take, portfolio, shocks, self._ended, died, regime,
            inflation, levels)
        self._advance_inflation(inflation)
        self._wealth = wealth
        self._utility += reward
        self._goals_taken += goals_in_decision(table, 0, t, taken)
        if t + 1 == self.problem.horizon:
            final_goals = goals_in_decision(table, 0, t + 1, taken_final)
            self._goals_taken += final_goals
            self._goals_affordable += final_goals > 0
        self._t = t + 1
        rewards = (reward * self.reward_scale).astype(np.float32)
        horizon = self.problem.horizon
        if self._t < horizon:
            dones = np.zeros(self.num_envs, dtype=bool)
            if self.step_info:
                with gc_paused():
                    infos = self._detailed_infos(taken, taken_final)
            else:
                infos = self._empty_infos()
            return self._observe(), rewards, dones, infos
        infos = self._episode_infos(self._observe(), self._utility, horizon)
        if self.step_info:
            with gc_paused():
                details = self._detailed_infos(taken, taken_final)
                for info, detail in zip(infos, details, strict=True):
                    info.update(detail)
        self._completed_utility.append(self._utility.copy())
        self._completed_goals.append(self._goals_taken.copy())
        self._completed_affordable.append(self._goals_affordable.copy())
        self._completed_offered += self.num_envs * goals_offered(self._table, horizon)
        self._restart_all()
        return self._observe(), rewards, np.ones(self.num_envs, dtype=bool), infos

    def _deaths(self, t: int) -> np.ndarray | None:
        """Who dies during year ``t`` (a survival table; drawn after the year's shocks)."""
        if not self._mortality or self._ended is None:
            return None
        died = dies(self._table, 0, t, self._draw_rng.random(self.num_envs))
        self._dead |= died & ~self._ended
        return died

    def _detailed_infos(self, taken: np.ndarray, taken_final: np.ndarray) -> list[dict[str, Any]]:
        offered = goals_offered(self._table, self._t)
        t = self._t
        if not self._table.paper_family[0]:
            infos = [
                {"wealth": w, "time": t, "goal_taken": g > 0, "final_goal_taken": f > 0,
                 "goals_taken": k, "goals_offered": offered, "utility": u, "decision": g}
                for w, g, f, k, u in zip(
                    self._wealth.tolist(), taken.tolist(), taken_final.tolist(),
                    self._goals_taken.tolist(), self._utility.tolist(), strict=True,
                )
            ]
            if self._withdrawals:
                for info, bankrupt in zip(infos, self.bankrupt.tolist(), strict=True):
                    info["bankrupt"] = bankrupt
            if self._mortality:
                for info, alive in zip(infos, self.alive.tolist(), strict=True):
                    info["alive"] = alive
            if self._regime is not None:
                for info, regime in zip(infos, self._regime.tolist(), strict=True):
                    info["regime"] = regime
            if self._inflation is not None and self._price_level is not None:
                for info, rate, level in zip(infos, self._inflation.tolist(),
                                             self._price_level.tolist(), strict=True):
                    info["inflation"] = rate
                    info["price_level"] = level
            return infos
        return [
            {"wealth": w, "time": t, "goal_taken": g > 0, "final_goal_taken": f > 0,
             "goals_taken": k, "goals_offered": offered, "utility": u}
            for w, g, f, k, u in zip(
                self._wealth.tolist(), taken.tolist(), taken_final.tolist(),
                self._goals_taken.tolist(), self._utility.tolist(), strict=True,
            )
        ]

    # ----- masks, episode statistics -----
    def action_masks(self) -> np.ndarray:
        """Valid actions, shape (N, K + n): ``[decisions..., portfolios...]`` per trajectory.

        As :meth:`GBWMEnv.action_masks`: a decision is valid where it exists and is affordable.
        """
        k = self.num_decisions
        masks = np.ones((self.num_envs, k + self.problem.num_portfolios), dtype=bool)
        masks[:, :k] = decision_affordable(self._table, self._t, self._wealth,
                                           self._levels_now())
        masks[:, 0] = True
        return masks

    def pop_episode_statistics(self) -> dict[str, Any]:
        """Statistics of the episodes completed since the last call (``{}`` if none).

        Keys: ``episodes``, ``mean_utility``; totals over those episodes: ``goals_taken``,
        ``goals_offered`` (goal years reached: every goal of every episode) and
        ``goals_affordable`` (goal years reached with enough wealth to take the goal);
        ``goal_success_rate`` = goals_taken / goals_offered (``None`` when no goal was
        offered).
        """
        if not self._completed_utility:
            return {}
        utility = np.concatenate(self._completed_utility)
        goals = int(sum(int(g.sum()) for g in self._completed_goals))
        affordable = int(sum(int(g.sum()) for g in self._completed_affordable))
        offered = self._completed_offered
        self._completed_utility, self._completed_goals, self._completed_offered = [], [], 0
        self._completed_affordable = []
        return {
            "episodes": int(utility.size),
            "mean_utility": float(utility.mean()),
            "goals_taken": goals,
            "goals_offered": offered,
            "goals_affordable": affordable,
            "goal_success_rate": goals / offered if offered else None,
        }
