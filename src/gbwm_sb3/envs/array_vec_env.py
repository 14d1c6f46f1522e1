"""``ArrayVecEnv``: the SB3 ``VecEnv`` plumbing of envs whose N trajectories are numpy arrays.

:class:`~gbwm_sb3.envs.vec_env.GBWMVecEnv` (one problem) and
:class:`~gbwm_sb3.envs.multi_problem_vec_env.MultiProblemVecEnv` (many problems) keep
every trajectory's state in arrays of length N and advance all of them with a few numpy
operations per step. This base holds what they share: seeding, reset, the
``step_async``/``step_wait`` hand-over, queued normal draws, the Monitor-style infos of
the episodes that end, attribute access as if each trajectory were an env, the market
regime of each trajectory for a market with regimes and the inflation rate and price level
of each trajectory for a problem with stochastic inflation.
"""

from __future__ import annotations

import gc
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from typing import Any, ClassVar

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

from gbwm_sb3.common.limits import MAX_N_ENVS, check_int
from gbwm_sb3.envs.draws import DrawQueue, regime_market
from gbwm_sb3.problem.inflation import InflationModel
from gbwm_sb3.problem.market import LognormalMarket, Market

__all__ = ["ArrayVecEnv", "gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
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


class ArrayVecEnv(VecEnv):
    """N trajectories held in numpy arrays and stepped together (an SB3 ``VecEnv``).

    ``num_envs`` (1 to ``MAX_N_ENVS``) trajectories step in lockstep. A trajectory whose
    episode ends is ``done``; its info carries ``terminal_observation`` and Monitor-style
    ``episode`` = ``{"r": total utility, "l": length, "t": seconds since creation}``, and
    it restarts at once (the returned observation is the new episode's first). Other
    infos are empty unless a subclass adds keys. :meth:`seed` takes effect at the next
    :meth:`reset`; :meth:`queue_normal_draws` replays given N(0, 1) shocks before the
    generator's own. There is nothing to render or release.

    Attribute access (``get_attr``, ``env_method``, ``has_attr``) answers as if each
    trajectory were an env: :attr:`per_env_attributes` are (N,)-array properties read
    element-wise, :attr:`shared_attributes` are repeated for every trajectory, and
    ``action_masks`` is the trajectory's row of :meth:`action_masks`. Nothing can be set.

    A subclass builds its spaces and state, sets ``_draw_rng`` (the generator of the
    normal draws), ``_wealth`` and ``_utility``, and implements :meth:`_reseed`,
    :meth:`_restart_all`, :meth:`_observe`, :meth:`_checked_actions`, :meth:`_step` and
    :meth:`action_masks`.

    For a market with regimes (``market`` a
    :class:`~gbwm_sb3.problem.regimes.RegimeMarket`) :attr:`regimes` holds each
    trajectory's regime of its current year: :meth:`_restart_regimes` puts it at the
    market's initial regime, :meth:`_next_draws` gives the innovations ``N`` (normal
    draws, queued or from ``_draw_rng``; the year kernel reads the regime's moments) and
    :meth:`_advance_regimes` moves it to the next year's by one uniform draw of
    ``_draw_rng`` per trajectory.

    For a problem with stochastic inflation (``inflation_model`` set) :attr:`inflation`
    holds each trajectory's current rate ``pi_t`` and :attr:`price_level` its price level
    ``P_t`` (wealth is real: today's money; nominal wealth is wealth times the price
    level): :meth:`_restart_inflation` puts them at the initial rate and 1,
    :meth:`_draw_inflation` draws the year's innovations ``eps`` (one standard normal per
    trajectory from ``_draw_rng``, after the year's other draws) and gives them with the
    next rates, as the year kernel takes them (``dynamics.grow(..., inflation=)``), and
    :meth:`_advance_inflation` moves the rates and price levels to the next year's.
    """

    #: Properties of shape (N,) that ``get_attr`` reads element-wise.
    per_env_attributes: ClassVar[tuple[str, ...]] = ("wealth", "utility")
    #: Attributes that ``get_attr`` repeats for every trajectory.
    shared_attributes: ClassVar[tuple[str, ...]] = (
        "render_mode", "observation_space", "action_space", "metadata")
    #: Whether ``env_is_wrapped(Monitor)`` answers True (episode statistics built in).
    monitor_built_in: ClassVar[bool] = False

    _draw_rng: np.random.Generator
    #: The law of the yearly shocks the generator draws (a subclass may set its problem's).
    market: Market = LognormalMarket()
    _wealth: np.ndarray
    _utility: np.ndarray
    #: Each trajectory's market regime this year (None for a market without regimes).
    _regime: np.ndarray | None = None
    #: The stochastic inflation of the problem (None: none; a subclass sets its problem's).
    inflation_model: InflationModel | None = None
    #: Each trajectory's inflation rate ``pi_t`` and price level ``P_t`` (None without).
    _inflation: np.ndarray | None = None
    _price_level: np.ndarray | None = None

    def __init__(self, num_envs: int, observation_space: spaces.Space,
                 action_space: spaces.Space) -> None:
        self.render_mode = None
        super().__init__(num_envs, observation_space, action_space)
        self._actions: Any = None
        self._draw_queue = DrawQueue(num_envs)
        self._start_time = time.time()

    @staticmethod
    def check_num_envs(num_envs: Any) -> int:
        """``num_envs`` as an int in ``1..MAX_N_ENVS`` (ValueError naming the range)."""
        return check_int(num_envs, "num_envs", 1, MAX_N_ENVS, style="bounds")

    @staticmethod
    def check_seed(seed: Any) -> int | None:
        """``seed`` as None or an int >= 0 (ValueError naming the field)."""
        return None if seed is None else check_int(seed, "seed", 0)

    # ----- state (read-only copies) -----
    @property
    def wealth(self) -> np.ndarray:
        """Wealth of each trajectory before its current year's infusion and decision, (N,)."""
        return self._wealth.copy()

    @property
    def utility(self) -> np.ndarray:
        """Utility collected so far in each trajectory's episode, shape (N,)."""
        return self._utility.copy()

    @property
    def regimes(self) -> np.ndarray | None:
        """The market regime of each trajectory's current year, shape (N,) (at the end of
        an episode: of year ``T``); None for a market without regimes."""
        return None if self._regime is None else self._regime.copy()

    @property
    def inflation(self) -> np.ndarray | None:
        """The inflation rate ``pi_t`` of each trajectory's current year, shape (N,) (the
        rate of the year just ended for ``t >= 1``; at the start, the initial rate); None
        without stochastic inflation."""
        return None if self._inflation is None else self._inflation.copy()

    @property
    def price_level(self) -> np.ndarray | None:
        """The price level ``P_t`` of each trajectory (1 at the start), shape (N,): wealth
        is real (today's money), ``wealth * price_level`` is nominal; None without
        stochastic inflation."""
        return None if self._price_level is None else self._price_level.copy()

    def queue_normal_draws(self, draws: np.ndarray) -> None:
        """Use these N(0, 1) draws, shape (k, N) (one row per step), before the generator's
        (for a market with regimes: the normals ``N`` within each trajectory's regime)."""
        self._draw_queue.push(draws)

    def _next_draws(self) -> np.ndarray:
        return self._draw_queue.next(self._draw_rng, self.market)

    def _restart_regimes(self) -> None:
        """Every trajectory in the market's initial regime (nothing without regimes)."""
        market = regime_market(self.market)
        self._regime = None if market is None else np.full(
            self.num_envs, market.initial_index, dtype=np.intp)

    def _advance_regimes(self) -> None:
        """Every trajectory's regime moves to next year's (one uniform draw each from
        ``_draw_rng``, after the year's other draws); nothing without regimes."""
        market = regime_market(self.market)
        if market is not None and self._regime is not None:
            self._regime = market.next_regime(self._regime, self._draw_rng.random(self.num_envs))

    def _restart_inflation(self) -> None:
        """Every trajectory at the initial rate and a price level of 1 (nothing without
        stochastic inflation)."""
        model = self.inflation_model
        if model is None:
            self._inflation = self._price_level = None
            return
        self._inflation = np.full(self.num_envs, model.initial_rate)
        self._price_level = np.ones(self.num_envs)

    def _draw_inflation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The year's inflation innovations ``eps`` (one standard normal per trajectory from
        ``_draw_rng``: call after the year's other draws) and the next rates ``pi_{t+1}``;
        None without stochastic inflation."""
        model = self.inflation_model
        if model is None or self._inflation is None:
            return None
        innovation = self._draw_rng.standard_normal(self.num_envs)
        return innovation, model.next_rate(self._inflation, innovation)

    def _advance_inflation(self, inflation: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Move to the next rates of :meth:`_draw_inflation` and grow the price levels."""
        if inflation is None or self._price_level is None:
            return
        self._inflation = inflation[1]
        self._price_level = self._price_level * np.exp(inflation[1])

    # ----- what a subclass defines -----
    @abstractmethod
    def _reseed(self, seed: int) -> None:
        """Restart the generators from ``seed`` (called by :meth:`reset` after :meth:`seed`)."""

    @abstractmethod
    def _restart_all(self) -> None:
        """Put every trajectory at the start of a new episode."""

    @abstractmethod
    def _observe(self) -> np.ndarray:
        """The observation of every trajectory, shape (N, observation size)."""

    @abstractmethod
    def _checked_actions(self, actions: np.ndarray) -> Any:
        """``actions`` validated (ValueError naming the field and range), as :meth:`_step`
        takes them."""

    @abstractmethod
    def _step(self, actions: Any) -> VecEnvStepReturn:
        """Advance every trajectory one year with checked ``actions``; restart those that end."""

    @abstractmethod
    def action_masks(self) -> np.ndarray:
        """Valid actions of each trajectory, shape (N, number of action choices)."""

    # ----- VecEnv API -----
    def reset(self) -> VecEnvObs:
        """Restart every trajectory; a seed set by :meth:`seed` takes effect here."""
        if self._seeds[0] is not None:
            self._reseed(self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        self._restart_all()
        self.reset_infos = self._empty_infos()
        return self._observe()

    def step_async(self, actions: np.ndarray) -> None:
        """Validate and store actions of shape (N, 2): (decision, portfolio index)."""
        self._actions = self._checked_actions(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Advance every trajectory one year with the actions of :meth:`step_async`."""
        if self._actions is None:
            raise RuntimeError("step_wait() needs step_async(actions) first")
        actions, self._actions = self._actions, None
        return self._step(actions)

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Reseed at the next :meth:`reset` (returns SB3's per-env seed list)."""
        return super().seed(seed)

    def close(self) -> None:
        """Nothing to release: the env holds only numpy arrays."""

    def _empty_infos(self) -> list[dict[str, Any]]:
        return [{} for _ in repeat(None, self.num_envs)]

    def _episode_infos(self, terminal_obs: np.ndarray, totals: np.ndarray,
                       lengths: int | list[int]) -> list[dict[str, Any]]:
        """Infos of episodes that end now, one per row of ``terminal_obs``."""
        elapsed = round(time.time() - self._start_time, 6)
        if isinstance(lengths, int):
            lengths = [lengths] * len(terminal_obs)
        with gc_paused():
            return [{"terminal_observation": obs, "episode": {"r": total, "l": length,
                                                              "t": elapsed}}
                    for obs, total, length in zip(list(terminal_obs), totals.tolist(), lengths,
                                                  strict=True)]

    # ----- attribute access, as if each trajectory were an env -----
    def _env_indices(self, indices: VecEnvIndices) -> list[int]:
        if isinstance(indices, np.integer):
            indices = int(indices)
        result = [int(i) for i in self._get_indices(indices)]
        for i in result:
            if not -self.num_envs <= i < self.num_envs:
                raise IndexError(f"env index must be in 0..{self.num_envs - 1}, got {i}")
        return result

    def has_attr(self, attr_name: str) -> bool:
        """Whether each trajectory has ``attr_name`` (e.g. ``action_masks`` for MaskablePPO)."""
        return attr_name == "action_masks" or attr_name in self.per_env_attributes \
            or attr_name in self.shared_attributes

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-trajectory values: :attr:`per_env_attributes` element-wise,
        :attr:`shared_attributes` repeated, ``action_masks`` as a function of no argument."""
        idx = self._env_indices(indices)
        if attr_name in self.per_env_attributes:
            values = getattr(self, attr_name)
            return [values[i].item() for i in idx]
        if attr_name == "action_masks":
            return [lambda i=i: self.action_masks()[i] for i in idx]
        if attr_name in self.shared_attributes:
            value = getattr(self, attr_name)
            return [value for _ in idx]
        raise AttributeError(f"{type(self).__name__} trajectories have no attribute "
                             f"{attr_name!r}")

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Not supported: the problems and state are arrays shared by all trajectories."""
        name = type(self).__name__
        raise AttributeError(f"cannot set {attr_name!r} on {name} trajectories: the problems "
                             f"and state are arrays shared by all of them; create a new {name} "
                             "instead")

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Per-trajectory methods: only ``action_masks`` (one mask row per trajectory)."""
        if method_name == "action_masks":
            masks = self.action_masks(*method_args, **method_kwargs)
            return [masks[i] for i in self._env_indices(indices)]
        raise AttributeError(f"{type(self).__name__} trajectories have no method "
                             f"{method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper],
                       indices: VecEnvIndices = None) -> list[bool]:
        """No wrappers; ``Monitor`` counts as present where :attr:`monitor_built_in`."""
        wrapped = self.monitor_built_in and wrapper_class is Monitor
        return [wrapped for _ in self._env_indices(indices)]
