"""Queued normal draws: the vectorised envs can replay given market shocks (common random
numbers, tests) before drawing their own.

For a market with regimes (:class:`~gbwm_sb3.problem.regimes.RegimeMarket`) the queued
and drawn numbers are the innovations ``N`` (standard normals); the year kernel reads the
moments of each trajectory's regime (``dynamics.grow(..., regime=)``)."""

from __future__ import annotations

import numpy as np

from gbwm_sb3.problem.market import LognormalMarket, Market
from gbwm_sb3.problem.regimes import RegimeMarket

__all__ = ["DrawQueue", "draw_rows", "regime_market"]


def regime_market(market: Market | None) -> RegimeMarket | None:
    """``market`` if it switches between regimes, else None."""
    return market if isinstance(market, RegimeMarket) else None


def draw_rows(draws: np.ndarray, num_envs: int) -> np.ndarray:
    """``draws`` as validated rows of N(0, 1) shocks, shape (steps, num_envs).

    A 1-d array is one step. Raises ValueError for another shape or non-finite values.
    """
    values = np.asarray(draws, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(1, -1)
    if values.ndim != 2 or values.shape[1] != num_envs:
        raise ValueError(f"draws must have shape (steps, {num_envs}) (one row per step), "
                         f"got {np.shape(draws)}")
    if not np.all(np.isfinite(values)):
        raise ValueError("draws must be finite numbers")
    return values


class DrawQueue:
    """Given shock rows, replayed one per step before a generator's own draws."""

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self._rows = np.empty((0, num_envs))

    def push(self, draws: np.ndarray) -> None:
        """Queue ``draws`` (validated by :func:`draw_rows`) after those already queued."""
        self._rows = np.concatenate([self._rows, draw_rows(draws, self.num_envs)])

    def next(self, rng: np.random.Generator, market: Market | None = None) -> np.ndarray:
        """The next queued row, else ``num_envs`` fresh shocks of ``market`` (default: the
        lognormal market's N(0, 1) draws) from ``rng``."""
        if self._rows.shape[0]:
            row, self._rows = self._rows[0], self._rows[1:]
            return row
        return (market or LognormalMarket()).draw_shocks(rng, self.num_envs)
