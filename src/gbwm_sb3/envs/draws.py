"""Queued normal draws: the vectorised envs can replay given market shocks (common random
numbers, tests) before drawing their own."""

from __future__ import annotations

import numpy as np

__all__ = ["draw_rows"]


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
