"""``MultiProblemVecEnv``: N trajectories, each of its own GBWM problem, as an SB3 ``VecEnv``.

Trajectories of different problems step together: the problems sit in a padded
:class:`~gbwm_sb3.envs.dynamics.ProblemTable` (the pool), each trajectory holds a row
index, its own year and its wealth, and a step is a few numpy gathers over all N
trajectories (:func:`~gbwm_sb3.envs.dynamics.step_years`, the year kernel every
simulator shares). There is no Python loop over trajectories
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
is an error. The ``VecEnv`` plumbing is
:class:`~gbwm_sb3.envs.array_vec_env.ArrayVecEnv`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.envs.array_vec_env import ArrayVecEnv
from gbwm_sb3.envs.dynamics import ProblemTable, decision_mask, step_years
from gbwm_sb3.envs.universal_observation import (
    K_MAX,
    N_MAX,
    UniversalObservation,
    universal_observation_bounds,
)
from gbwm_sb3.problem.market import LognormalMarket
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope, sample_problem

__all__ = ["MultiProblemVecEnv"]


class MultiProblemVecEnv(ArrayVecEnv):
    """N trajectories over many problems, stepped together with numpy (an SB3 ``VecEnv``).

    - ``envelope``: where the problems are drawn from (ignored when ``problems`` is given);
    - ``sampler``: a function of a ``numpy.random.Generator`` that draws one problem inside
      ``envelope``, used instead of ``sample_problem(rng, envelope)`` (e.g. a training
      mixture of :mod:`gbwm_sb3.pretrained.mixture`); its draws are checked against
      ``envelope`` as they enter the pool;
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

    per_env_attributes: ClassVar[tuple[str, ...]] = ("wealth", "utility", "time", "horizon")

    def __init__(self, num_envs: int, envelope: ProblemEnvelope = DEFAULT_ENVELOPE,
                 seed: int | None = None, problems: Sequence[GBWMProblem] | None = None,
                 pool_size: int = 1024, new_problems_per_step: int = 4,
                 normalize_rewards: bool = True,
                 reward_scale: Callable[[GBWMProblem], float] | None = None,
                 sampler: Callable[[np.random.Generator], GBWMProblem] | None = None) -> None:
        num_envs = self.check_num_envs(num_envs)
        seed = self.check_seed(seed)
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
        if sampler is not None and not callable(sampler):
            raise ValueError(f"sampler must be a function of a numpy Generator or None, got "
                             f"{type(sampler).__name__}")
        self.sampler = sampler
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
                unsupported = _unsupported(problem)
                if unsupported:
                    raise ValueError(f"problems[{i}]: {unsupported} is not supported by the "
                                     "universal observation (withdrawals, survival tables, "
                                     "stochastic inflation and markets other than the "
                                     "lognormal one are not; use GBWMVecEnv for such a "
                                     "problem)")
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
        self._new_generators(self._seed_sequence)
        self._fill_pool()
        self._rows = np.zeros(num_envs, dtype=np.intp)
        self._t = np.zeros(num_envs, dtype=np.intp)
        self._wealth = np.zeros(num_envs)
        self._utility = np.zeros(num_envs)
        self._restart_all()
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
            problems = [self._draw() for _ in rows]
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
        problems = [self._draw() for _ in range(count)]
        self._write(rows, problems)
        self.problems_drawn += count

    def _draw(self) -> GBWMProblem:
        """One fresh problem for the pool: the sampler's, or ``sample_problem``'s."""
        if self.sampler is None:
            return sample_problem(self._problem_rng, self.envelope)
        problem = self.sampler(self._problem_rng)
        outside = self.envelope.contains(problem) if isinstance(problem, GBWMProblem) \
            else [f"got {type(problem).__name__}, not a GBWMProblem"]
        if outside:
            raise ValueError("sampler drew a problem outside the envelope: "
                             + "; ".join(outside))
        return problem

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

    # ----- what ArrayVecEnv asks of a subclass -----
    def _reseed(self, seed: int) -> None:
        """New generators from ``seed``, and the pool redrawn from them."""
        self._new_generators(np.random.SeedSequence(seed))
        self._fill_pool()

    def _restart_all(self) -> None:
        self._restart(np.arange(self.num_envs))

    def _observe(self) -> np.ndarray:
        return self.encoder.encode(self._rows, self._t, self._wealth)

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

    def _checked_actions(self, actions: np.ndarray) -> np.ndarray:
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
        return array

    def _step(self, actions: np.ndarray) -> VecEnvStepReturn:
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
        infos = self._empty_infos()
        ended = np.flatnonzero(dones)
        if ended.size:
            terminal = self.encoder.encode(rows[ended], self._t[ended], self._wealth[ended])
            ended_infos = self._episode_infos(terminal, self._utility[ended],
                                              self.table.horizon[rows[ended]].tolist())
            for i, info in zip(ended.tolist(), ended_infos, strict=True):
                infos[i] = info
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
        masks = np.zeros((self.num_envs, K_MAX + N_MAX), dtype=bool)
        masks[:, :K_MAX] = decision_mask(self.table, rows, t, self._wealth)
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

    # ----- attribute access: the problem is per trajectory -----
    def has_attr(self, attr_name: str) -> bool:
        """Whether each trajectory has ``attr_name`` (``problem`` included)."""
        return attr_name == "problem" or super().has_attr(attr_name)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """As :meth:`ArrayVecEnv.get_attr`; ``problem`` is each trajectory's problem."""
        if attr_name == "problem":
            return [self.table.problems[self._rows[i]] for i in self._env_indices(indices)]
        return super().get_attr(attr_name, indices)


def _unsupported(problem: GBWMProblem) -> str:
    """What of ``problem`` the universal observation cannot show ("" if nothing)."""
    if min(problem.infusions, default=0.0) < 0.0:
        return "a withdrawal"
    if problem.survival:
        return "a survival table"
    if problem.inflation is not None:
        return "stochastic inflation"
    if problem.market.regime_count > 1:
        return f"a market with {problem.market.regime_count} regimes"
    if not isinstance(problem.market, LognormalMarket):
        return f"a {problem.market.name} market"
    return ""
