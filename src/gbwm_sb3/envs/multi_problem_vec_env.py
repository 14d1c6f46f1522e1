"""``MultiProblemVecEnv``: N trajectories, each of its own GBWM problem, as an SB3 ``VecEnv``.

Trajectories of different problems step together: the problems sit in a padded
:class:`~gbwm_sb3.envs.dynamics.ProblemTable` (the pool), each trajectory holds a row
index, its own year and its wealth, and a step is a few numpy gathers over all N
trajectories (:func:`~gbwm_sb3.envs.dynamics.step_years`, the mechanics of
:func:`~gbwm_sb3.envs.dynamics.step_year`). There is no Python loop over trajectories
except to build the info dicts of the episodes that end.

Horizons differ, so episodes end at different steps: a trajectory that reaches its
``T`` ends (``done``, with ``terminal_observation`` and ``episode`` in its info) and
restarts at once on a problem drawn uniformly from the pool. The pool is drawn from
:func:`~gbwm_sb3.problem.sampler.sample_problem` and renewed as training goes:
after every step, up to ``new_problems_per_step`` rows that no trajectory is using
are replaced by fresh draws, so the problems seen keep changing while the cost of
drawing stays bounded per step. Everything is seeded by ``seed``.

Observation: :mod:`gbwm_sb3.envs.universal_observation` (fixed length for every
problem). Action: ``MultiDiscrete([K_MAX, N_MAX])`` (decision of the year, portfolio);
:meth:`action_masks` marks the decisions that exist and are affordable and the
portfolios that exist. A decision that does not exist or is not affordable takes
nothing (as in :mod:`gbwm_sb3.envs.dynamics`); a portfolio the problem does not have
is an error.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from gbwm_sb3.common.limits import MAX_N_ENVS, check_int
from gbwm_sb3.envs.draws import DrawQueue
from gbwm_sb3.envs.dynamics import ProblemTable, step_years
from gbwm_sb3.envs.universal_observation import (
    K_MAX,
    N_MAX,
    UniversalObservation,
    universal_observation_bounds,
)
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope, sample_problem

__all__ = ["MultiProblemVecEnv"]

_PER_ENV_ATTRIBUTES = ("wealth", "utility", "time", "horizon")


class MultiProblemVecEnv(VecEnv):
    """N trajectories over many problems, stepped together with numpy (an SB3 ``VecEnv``).

    - ``envelope``: where the problems are drawn from (ignored when ``problems`` is given);
    - ``problems``: a fixed pool instead of draws (e.g. one problem, or a benchmark set);
    - ``pool_size``: problems held at once (default 1024; about 45 KB each);
    - ``new_problems_per_step``: unused pool rows redrawn after each step (default 4;
      0 keeps the pool fixed);
    - ``normalize_rewards``: divide each reward by its problem's total utility, so every
      problem's return lies in [0, 1] (``info["episode"]["r"]`` stays in utility units);
    - ``reward_scale``: a function of the problem that replaces the total utility as the
      divisor (computed once per problem as it enters the pool), e.g. the optimal
      expected utility, so that a return is an efficiency; values are floored at
      0.1% of the total utility.
    """

    def __init__(self, num_envs: int, envelope: ProblemEnvelope = DEFAULT_ENVELOPE,
                 seed: int | None = None, problems: Sequence[GBWMProblem] | None = None,
                 pool_size: int = 1024, new_problems_per_step: int = 4,
                 normalize_rewards: bool = True,
                 reward_scale: Callable[[GBWMProblem], float] | None = None) -> None:
        num_envs = check_int(num_envs, "num_envs", 1)
        if num_envs > MAX_N_ENVS:
            raise ValueError(f"num_envs must be an integer >= 1 and <= {MAX_N_ENVS:,} "
                             f"(MAX_N_ENVS), got {num_envs!r}")
        if seed is not None:
            seed = check_int(seed, "seed", 0)
        if not isinstance(envelope, ProblemEnvelope):
            raise ValueError(f"envelope must be a ProblemEnvelope, got {type(envelope).__name__}")
        if envelope.max_decisions_per_year > K_MAX or envelope.num_portfolios[1] > N_MAX:
            raise ValueError(
                f"envelope: max_decisions_per_year must be <= {K_MAX} and num_portfolios at "
                f"most {N_MAX} (the observation's width), got "
                f"{envelope.max_decisions_per_year} and {envelope.num_portfolios[1]}"
            )
        self.envelope = envelope
        self.normalize_rewards = bool(normalize_rewards)
        if reward_scale is not None and not callable(reward_scale):
            raise ValueError(f"reward_scale must be a function of the problem or None, got "
                             f"{type(reward_scale).__name__}")
        self.reward_scale = reward_scale
        self._seed_sequence = np.random.SeedSequence(seed)
        self._fixed = problems is not None
        if problems is not None:
            problems = list(problems)
            if not problems:
                raise ValueError("problems must contain at least 1 problem, got 0")
            for i, problem in enumerate(problems):
                if not isinstance(problem, GBWMProblem):
                    raise ValueError(f"problems[{i}] must be a GBWMProblem, got "
                                     f"{type(problem).__name__}")
            self._fixed_problems = problems
            pool_size = len(problems)
            new_problems_per_step = 0
            time_steps = max(p.horizon for p in problems) + 1
        else:
            pool_size = check_int(pool_size, "pool_size", 1)
            new_problems_per_step = check_int(new_problems_per_step, "new_problems_per_step", 0)
            time_steps = envelope.horizon[1] + 1
        self.pool_size = pool_size
        self.new_problems_per_step = new_problems_per_step
        self.table = ProblemTable(pool_size, time_steps, K_MAX, N_MAX)
        self._scale = np.ones(pool_size)
        self.encoder = UniversalObservation(self.table)
        low, high = universal_observation_bounds()
        super().__init__(num_envs, spaces.Box(low=low, high=high, dtype=np.float32),
                         spaces.MultiDiscrete([K_MAX, N_MAX]))
        self.render_mode = None
        self._start_time = time.time()
        self._draw_queue = DrawQueue(num_envs)
        self._actions: np.ndarray | None = None
        self._new_generators(self._seed_sequence)
        self._fill_pool()
        self._rows = np.zeros(num_envs, dtype=np.intp)
        self._t = np.zeros(num_envs, dtype=np.intp)
        self._wealth = np.zeros(num_envs)
        self._utility = np.zeros(num_envs)
        self._restart(np.arange(num_envs))
        self._completed: list[np.ndarray] = []

    # ----- seeding, pool -----
    def _new_generators(self, sequence: np.random.SeedSequence) -> None:
        draws, assign, problems = sequence.spawn(3)
        self._draw_rng = np.random.default_rng(draws)
        self._assign_rng = np.random.default_rng(assign)
        self._problem_rng = np.random.default_rng(problems)

    def _fill_pool(self) -> None:
        rows = np.arange(self.pool_size)
        if self._fixed:
            problems = self._fixed_problems
        else:
            problems = [sample_problem(self._problem_rng, self.envelope) for _ in rows]
        self._write(rows, problems)
        self.problems_drawn = 0 if self._fixed else self.pool_size

    def _renew_pool(self) -> None:
        if not self.new_problems_per_step:
            return
        unused = np.flatnonzero(np.bincount(self._rows, minlength=self.pool_size) == 0)
        if not unused.size:
            return
        count = min(self.new_problems_per_step, unused.size)
        rows = self._problem_rng.choice(unused, size=count, replace=False)
        problems = [sample_problem(self._problem_rng, self.envelope) for _ in range(count)]
        self._write(rows, problems)
        self.problems_drawn += count

    def _write(self, rows: np.ndarray, problems: list[GBWMProblem]) -> None:
        self.table.write(rows, problems)
        self.encoder.write(rows, problems)
        for row, problem in zip(np.asarray(rows).tolist(), problems, strict=True):
            total = problem.total_utility
            if self.reward_scale is None:
                self._scale[row] = total
                continue
            value = float(self.reward_scale(problem))
            if not np.isfinite(value):
                raise ValueError(f"reward_scale returned {value!r} for a problem; it must be "
                                 "a finite number")
            self._scale[row] = max(value, 1e-3 * total)

    def _restart(self, which: np.ndarray) -> None:
        """Put trajectories ``which`` at ``t = 0`` of a problem drawn from the pool."""
        if self.pool_size == 1:
            rows = np.zeros(which.size, dtype=np.intp)
        else:
            rows = self._assign_rng.integers(0, self.pool_size, size=which.size)
        self._rows[which] = rows
        self._t[which] = 0
        self._wealth[which] = self.table.initial_wealth[rows]
        self._utility[which] = 0.0

    # ----- state (read-only copies) -----
    @property
    def problems(self) -> list[GBWMProblem]:
        """The problem of each trajectory."""
        return [self.table.problems[row] for row in self._rows.tolist()]

    @property
    def time(self) -> np.ndarray:
        """The current year of each trajectory, shape (N,)."""
        return self._t.copy()

    @property
    def horizon(self) -> np.ndarray:
        """The horizon ``T`` of each trajectory's problem, shape (N,)."""
        return self.table.horizon[self._rows]

    @property
    def wealth(self) -> np.ndarray:
        """Current (pre-infusion, pre-decision) wealth of each trajectory, shape (N,)."""
        return self._wealth.copy()

    @property
    def utility(self) -> np.ndarray:
        """Utility collected so far in each trajectory's episode, shape (N,)."""
        return self._utility.copy()

    def queue_normal_draws(self, draws: np.ndarray) -> None:
        """Use these N(0, 1) draws, shape (k, N) (one row per step), before the generator's."""
        self._draw_queue.push(draws)

    def _next_draws(self) -> np.ndarray:
        return self._draw_queue.next(self._draw_rng)

    def _observe(self) -> np.ndarray:
        return self.encoder.encode(self._rows, self._t, self._wealth)

    # ----- VecEnv API -----
    def reset(self) -> VecEnvObs:
        """Restart every trajectory on a pool problem; a seed from :meth:`seed` redraws the pool."""
        if self._seeds[0] is not None:
            self._new_generators(np.random.SeedSequence(self._seeds[0]))
            self._fill_pool()
        self._reset_seeds()
        self._reset_options()
        self._restart(np.arange(self.num_envs))
        self.reset_infos = [{} for _ in repeat(None, self.num_envs)]
        return self._observe()

    def step_async(self, actions: np.ndarray) -> None:
        """Validate and store actions of shape (N, 2): (decision index, portfolio index)."""
        array = np.asarray(actions)
        shape = (self.num_envs, 2)
        if array.shape != shape:
            raise ValueError(f"actions must have shape {shape} (decision, portfolio), "
                             f"got shape {array.shape}")
        if array.dtype.kind not in "iu":
            if array.dtype.kind != "f" or not np.all(np.isfinite(array)) \
                    or not np.all(array == np.round(array)):
                raise ValueError(f"actions must be integers (decision, portfolio), got dtype "
                                 f"{array.dtype}")
            array = array.astype(np.int64)
        decision, portfolio = array[:, 0], array[:, 1]
        bad = np.flatnonzero((decision < 0) | (decision >= K_MAX))
        if bad.size:
            raise ValueError(f"actions[{bad[0]}, 0] (decision index) must be in 0..{K_MAX - 1}, "
                             f"got {decision[bad[0]]}")
        count = self.table.num_portfolios[self._rows]
        bad = np.flatnonzero((portfolio < 0) | (portfolio >= count))
        if bad.size:
            i = bad[0]
            raise ValueError(f"actions[{i}, 1] (portfolio index) must be in 0..{count[i] - 1} "
                             f"(trajectory {i}'s problem has {count[i]} portfolios), "
                             f"got {portfolio[i]}")
        self._actions = array

    def step_wait(self) -> VecEnvStepReturn:
        """Advance every trajectory one year; those reaching their ``T`` end and restart."""
        if self._actions is None:
            raise RuntimeError("step_wait() needs step_async(actions) first")
        actions, self._actions = self._actions, None
        rows = self._rows
        wealth, reward, _, _ = step_years(self.table, rows, self._t, self._wealth,
                                          actions[:, 0], actions[:, 1], self._next_draws())
        self._wealth = wealth
        self._utility += reward
        self._t += 1
        if self.normalize_rewards:
            reward = reward / self._scale[rows]
        rewards = reward.astype(np.float32)
        dones = self._t >= self.table.horizon[rows]
        infos: list[dict[str, Any]] = [{} for _ in repeat(None, self.num_envs)]
        ended = np.flatnonzero(dones)
        if ended.size:
            terminal = self.encoder.encode(rows[ended], self._t[ended], self._wealth[ended])
            elapsed = round(time.time() - self._start_time, 6)
            horizons = self.table.horizon[rows[ended]].tolist()
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                for i, obs, total, length in zip(ended.tolist(), terminal,
                                                 self._utility[ended].tolist(), horizons,
                                                 strict=True):
                    infos[i] = {"terminal_observation": obs,
                                "episode": {"r": total, "l": length, "t": elapsed}}
            finally:
                if was_enabled:
                    gc.enable()
            self._completed.append(self._utility[ended] / self.table.total_utility[rows[ended]])
            self._renew_pool()
            self._restart(ended)
        elif self.new_problems_per_step:
            self._renew_pool()
        return self._observe(), rewards, dones, infos

    def action_masks(self) -> np.ndarray:
        """Valid actions, shape (N, K_MAX + N_MAX): ``[decisions..., portfolios...]``.

        A decision is valid where it exists this year and costs at most the cash at hand
        (decision 0 always); a portfolio where the trajectory's problem has it.
        """
        rows, t = self._rows, self._t
        cash = self._wealth + self.table.infusions[rows, t]
        masks = np.zeros((self.num_envs, K_MAX + N_MAX), dtype=bool)
        masks[:, :K_MAX] = self.table.decision_cost[rows, t] <= cash[:, None]
        masks[:, 0] = True
        masks[:, K_MAX:] = np.arange(N_MAX)[None, :] < self.table.num_portfolios[rows][:, None]
        return masks

    def pop_episode_statistics(self) -> dict[str, Any]:
        """Episodes completed since the last call: ``episodes`` and ``mean_utility_fraction``
        (utility collected / the problem's total utility); ``{}`` if none."""
        if not self._completed:
            return {}
        fractions = np.concatenate(self._completed)
        self._completed = []
        return {"episodes": int(fractions.size),
                "mean_utility_fraction": float(fractions.mean())}

    def close(self) -> None:
        """Nothing to release: the env holds only numpy arrays."""

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Reseed at the next :meth:`reset` (the pool is redrawn then)."""
        return super().seed(seed)

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
        return attr_name in ("action_masks", "problem", "render_mode") \
            or attr_name in _PER_ENV_ATTRIBUTES

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-trajectory values: ``wealth``, ``utility``, ``time``, ``horizon``, ``problem``."""
        idx = self._indices(indices)
        if attr_name in _PER_ENV_ATTRIBUTES:
            values = getattr(self, attr_name)
            return [values[i].item() for i in idx]
        if attr_name == "problem":
            return [self.table.problems[self._rows[i]] for i in idx]
        if attr_name == "action_masks":
            return [lambda i=i: self.action_masks()[i] for i in idx]
        if attr_name == "render_mode":
            return [None for _ in idx]
        raise AttributeError(f"MultiProblemVecEnv trajectories have no attribute {attr_name!r}")

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Not supported: the state lives in shared arrays."""
        raise AttributeError(f"cannot set {attr_name!r} on MultiProblemVecEnv trajectories: "
                             "the state lives in shared arrays; create a new env instead")

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Per-trajectory methods: only ``action_masks``."""
        if method_name == "action_masks":
            masks = self.action_masks(*method_args, **method_kwargs)
            return [masks[i] for i in self._indices(indices)]
        raise AttributeError(f"MultiProblemVecEnv trajectories have no method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper],
                       indices: VecEnvIndices = None) -> list[bool]:
        """No wrappers (episode statistics are in the infos)."""
        return [False for _ in self._indices(indices)]
