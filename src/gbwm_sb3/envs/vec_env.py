"""``GBWMVecEnv``: N GBWM trajectories stepped together with numpy, as an SB3 ``VecEnv``.

Every trajectory has exactly ``T`` steps, so all N run in lockstep: one shared
year ``t`` and arrays of wealth, utility and goals taken. A step is a handful
of numpy operations on arrays of length N (the mechanics of
:mod:`gbwm_sb3.dynamics`, the observation of :mod:`gbwm_sb3.observation`,
exactly as :class:`gbwm_sb3.env.GBWMEnv`). After step ``T`` all trajectories
end together: each info carries ``terminal_observation`` and Monitor-style
``episode`` statistics, and the env resets itself.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from gbwm_sb3.common.limits import MAX_N_ENVS
from gbwm_sb3.envs.draws import DrawQueue
from gbwm_sb3.envs.dynamics import goals_in_decision, problem_arrays, step_year
from gbwm_sb3.envs.gbwm_env import goals_offered, resolve_problem, validate_actions
from gbwm_sb3.envs.observation import (
    decision_affordable,
    encode_observation,
    goal_affordable,
    observation_bounds,
)
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["GBWMVecEnv"]

_PER_ENV_ATTRIBUTES = ("wealth", "utility", "goals_taken")
_SHARED_ATTRIBUTES = ("problem", "time", "render_mode", "observation_space", "action_space",
                      "metadata")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building N info dicts.

    Thousands of new container objects trigger repeated collections that scan every
    live object (torch's included): 5x the cost of building the dicts themselves.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class GBWMVecEnv(VecEnv):
    """N trajectories of one GBWM problem, vectorised with numpy (an SB3 ``VecEnv``).

    ``GBWMVecEnv(4800)`` runs the paper's 4-goal problem; ``num_goals=`` and ``problem=``
    as for :class:`~gbwm_sb3.env.GBWMEnv`. One ``numpy.random.Generator`` seeded with
    ``seed`` (or by :meth:`seed` before the next reset) draws all N normals of a year.

    Info dicts are empty (cheap) except at episode end, where each has
    ``terminal_observation`` and ``episode`` = ``{"r": total utility, "l": T,
    "t": seconds since creation}`` (what SB3's ``ep_rew_mean`` reads). ``step_info=True``
    adds the :class:`GBWMEnv` info keys to every info of every step (slower: a few ms
    per step for N = 4800); the same quantities are always available as arrays
    (:attr:`wealth`, :attr:`utility`, :attr:`goals_taken`, :attr:`time`).

    ``reward_scale`` multiplies the rewards PPO sees (e.g. ``1 / problem.total_utility``
    puts returns in [0, 1] for the value network); utilities in ``info["episode"]``,
    :attr:`utility` and the episode statistics stay in the problem's units.
    """

    def __init__(self, num_envs: int, problem: GBWMProblem | None = None,
                 num_goals: int | None = None, seed: int | None = None,
                 step_info: bool = False, reward_scale: float = 1.0) -> None:
        if (isinstance(num_envs, (bool, np.bool_)) or not isinstance(num_envs, (int, np.integer))
                or not 1 <= num_envs <= MAX_N_ENVS):
            raise ValueError(f"num_envs must be an integer >= 1 and <= {MAX_N_ENVS:,} "
                             f"(MAX_N_ENVS), got {num_envs!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
        scale_ok = (isinstance(reward_scale, (int, float, np.floating))
                    and not isinstance(reward_scale, bool))
        if not scale_ok or not np.isfinite(reward_scale) or reward_scale <= 0:
            raise ValueError(f"reward_scale must be a finite number > 0, got {reward_scale!r}")
        self.reward_scale = float(reward_scale)
        self.problem = resolve_problem(problem, num_goals)
        self._arrays = problem_arrays(self.problem)
        self.step_info = bool(step_info)
        self.render_mode = None
        num_envs = int(num_envs)
        low, high = observation_bounds(self._arrays)
        self.num_decisions = self._arrays.num_decisions
        super().__init__(
            num_envs,
            spaces.Box(low=low, high=high, dtype=np.float32),
            spaces.MultiDiscrete([self.num_decisions, self.problem.num_portfolios]),
        )
        self._rng = np.random.default_rng(seed)
        self._t = 0
        self._wealth = np.full(num_envs, self._arrays.initial_wealth)
        self._utility = np.zeros(num_envs)
        self._goals_taken = np.zeros(num_envs, dtype=np.int64)
        self._goals_affordable = np.zeros(num_envs, dtype=np.int64)
        self._actions: tuple[np.ndarray, np.ndarray] | None = None
        self._draw_queue = DrawQueue(num_envs)
        self._start_time = time.time()
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
    def wealth(self) -> np.ndarray:
        """Current (pre-decision) wealth of each trajectory, shape (N,)."""
        return self._wealth.copy()

    @property
    def utility(self) -> np.ndarray:
        """Utility collected so far in the current episode, shape (N,)."""
        return self._utility.copy()

    @property
    def goals_taken(self) -> np.ndarray:
        """Goals taken so far in the current episode, shape (N,)."""
        return self._goals_taken.copy()

    def queue_normal_draws(self, draws: np.ndarray) -> None:
        """Use these N(0, 1) draws, shape (k, N) (one row per step), before the generator's."""
        self._draw_queue.push(draws)

    def _next_draws(self) -> np.ndarray:
        return self._draw_queue.next(self._rng)

    # ----- VecEnv API -----
    def reset(self) -> VecEnvObs:
        """Restart all trajectories at ``t = 0``; a seed set by :meth:`seed` takes effect here."""
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        self._restart()
        self.reset_infos = [{} for _ in repeat(None, self.num_envs)]
        return encode_observation(self._arrays, 0, self._wealth)

    def _restart(self) -> None:
        self._t = 0
        self._wealth = np.full(self.num_envs, self._arrays.initial_wealth)
        self._utility = np.zeros(self.num_envs)
        self._goals_taken = np.zeros(self.num_envs, dtype=np.int64)
        self._goals_affordable = np.zeros(self.num_envs, dtype=np.int64)

    def step_async(self, actions: np.ndarray) -> None:
        """Validate and store actions of shape (N, 2): (take flag or decision, portfolio)."""
        self._actions = validate_actions(
            actions, self.problem.num_portfolios, (self.num_envs, 2), self.num_decisions
        )

    def step_wait(self) -> VecEnvStepReturn:
        """Advance every trajectory one year; auto-reset all of them after year ``T``."""
        if self._actions is None:
            raise RuntimeError("step_wait() needs step_async(actions) first")
        take, portfolio = self._actions
        self._actions = None
        t = self._t
        arrays = self._arrays
        if arrays.has_goal[t]:
            if arrays.general:
                self._goals_affordable += goal_affordable(arrays, t, self._wealth)
            else:
                self._goals_affordable += self._wealth >= arrays.costs[t]
        wealth, reward, taken, taken_final = step_year(
            arrays, t, self._wealth, take, portfolio, self._next_draws()
        )
        self._wealth = wealth
        self._utility += reward
        if arrays.general:
            self._goals_taken += goals_in_decision(arrays, t, taken)
            final_goals = goals_in_decision(arrays, arrays.horizon, taken_final) \
                if t + 1 == arrays.horizon else 0
            self._goals_taken += final_goals
            self._goals_affordable += np.asarray(final_goals) > 0
        else:
            self._goals_taken += taken
            self._goals_taken += taken_final
            self._goals_affordable += taken_final
        self._t = t + 1
        rewards = (reward * self.reward_scale).astype(np.float32)
        horizon = self.problem.horizon
        if self._t < horizon:
            obs = encode_observation(self._arrays, self._t, self._wealth)
            dones = np.zeros(self.num_envs, dtype=bool)
            if self.step_info:
                with _gc_paused():
                    infos = self._detailed_infos(taken, taken_final)
            else:
                infos = [{} for _ in repeat(None, self.num_envs)]
            return obs, rewards, dones, infos
        terminal_obs = encode_observation(self._arrays, horizon, self._wealth)
        elapsed = round(time.time() - self._start_time, 6)
        with _gc_paused():
            infos = [
                {"terminal_observation": final_obs,
                 "episode": {"r": total, "l": horizon, "t": elapsed}}
                for final_obs, total in zip(list(terminal_obs), self._utility.tolist(), strict=True)
            ]
            if self.step_info:
                details = self._detailed_infos(taken, taken_final)
                for info, detail in zip(infos, details, strict=True):
                    info.update(detail)
        self._completed_utility.append(self._utility.copy())
        self._completed_goals.append(self._goals_taken.copy())
        self._completed_affordable.append(self._goals_affordable.copy())
        self._completed_offered += self.num_envs * goals_offered(self._arrays, horizon)
        self._restart()
        obs = encode_observation(self._arrays, 0, self._wealth)
        return obs, rewards, np.ones(self.num_envs, dtype=bool), infos

    def _detailed_infos(self, taken: np.ndarray, taken_final: np.ndarray) -> list[dict[str, Any]]:
        offered = goals_offered(self._arrays, self._t)
        t = self._t
        if self._arrays.general:
            return [
                {"wealth": w, "time": t, "goal_taken": g > 0, "final_goal_taken": f > 0,
                 "goals_taken": k, "goals_offered": offered, "utility": u, "decision": g}
                for w, g, f, k, u in zip(
                    self._wealth.tolist(), taken.tolist(), taken_final.tolist(),
                    self._goals_taken.tolist(), self._utility.tolist(), strict=True,
                )
            ]
        return [
            {"wealth": w, "time": t, "goal_taken": g, "final_goal_taken": f,
             "goals_taken": k, "goals_offered": offered, "utility": u}
            for w, g, f, k, u in zip(
                self._wealth.tolist(), taken.tolist(), taken_final.tolist(),
                self._goals_taken.tolist(), self._utility.tolist(), strict=True,
            )
        ]

    def close(self) -> None:
        """Nothing to release: the env holds only numpy arrays."""

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the shared generator at the next :meth:`reset` (returns SB3's per-env seed list)."""
        return super().seed(seed)

    # ----- masks, episode statistics -----
    def action_masks(self) -> np.ndarray:
        """Valid actions, shape (N, K + n): ``[decisions..., portfolios...]`` per trajectory.

        As :meth:`GBWMEnv.action_masks`: a decision is valid where it exists and is affordable.
        """
        k = self.num_decisions
        masks = np.ones((self.num_envs, k + self.problem.num_portfolios), dtype=bool)
        if self._arrays.general:
            masks[:, :k] = decision_affordable(self._arrays, self._t, self._wealth)
            masks[:, 0] = True
            return masks
        masks[:, 1] = goal_affordable(self._arrays, self._t, self._wealth)
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

    # ----- attribute access, as if each trajectory were an env -----
    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, (int, np.integer)):
            indices = [int(indices)]
        result = [int(i) for i in (indices if isinstance(indices, Iterable) else [indices])]
        for i in result:
            if not -self.num_envs <= i < self.num_envs:
                raise IndexError(f"env index must be in 0..{self.num_envs - 1}, got {i}")
        return result

    def has_attr(self, attr_name: str) -> bool:
        """Whether each trajectory has ``attr_name`` (e.g. ``action_masks`` for MaskablePPO)."""
        return attr_name == "action_masks" or attr_name in _PER_ENV_ATTRIBUTES \
            or attr_name in _SHARED_ATTRIBUTES

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-trajectory values: ``wealth``/``utility``/``goals_taken`` element-wise, shared
        attributes (``problem``, ``time``, spaces, ``render_mode``) repeated."""
        idx = self._indices(indices)
        if attr_name in _PER_ENV_ATTRIBUTES:
            values = getattr(self, "_" + attr_name)
            return [values[i].item() for i in idx]
        if attr_name == "action_masks":
            return [lambda i=i: self.action_masks()[i] for i in idx]
        if attr_name in _SHARED_ATTRIBUTES:
            value = getattr(self, attr_name)
            return [value for _ in idx]
        raise AttributeError(f"GBWMVecEnv trajectories have no attribute {attr_name!r}")

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Not supported: the problem and state are shared arrays; build a new env instead."""
        raise AttributeError(
            f"cannot set {attr_name!r} on GBWMVecEnv trajectories: the problem and state are "
            "shared by all of them; create a new GBWMVecEnv instead"
        )

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Per-trajectory methods: only ``action_masks`` (one mask row per trajectory)."""
        if method_name == "action_masks":
            masks = self.action_masks(*method_args, **method_kwargs)
            if indices is None:
                return list(masks)
            return [masks[i] for i in self._indices(indices)]
        raise AttributeError(f"GBWMVecEnv trajectories have no method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper],
                       indices: VecEnvIndices = None) -> list[bool]:
        """No wrappers; ``Monitor`` counts as present since episode statistics are built in."""
        wrapped = wrapper_class is Monitor
        return [wrapped for _ in self._indices(indices)]
