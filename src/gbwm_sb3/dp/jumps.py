"""Where a value function jumps: affordability thresholds and the jumps a near-riskless
portfolio carries back from later years (see :mod:`gbwm_sb3.dp`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gbwm_sb3.dp.transitions import (
    NEGLIGIBLE_SPREAD,
    RAMP_KNOTS,
    Jump,
    Kernels,
    Representation,
    sharp_view,
)
from gbwm_sb3.envs.dynamics import (
    ProblemTable,
    affordability_thresholds,
)


def jump_index(log_grid: np.ndarray, log_cost: float) -> int:
    """Boundary index k (cells k-1 | k) that brackets ``log_cost``; -1 if outside the grid."""
    k = int(np.searchsorted(log_grid, log_cost, side="left"))
    return k if 0 < k < log_grid.shape[0] else -1


def affordability_jumps(table: ProblemTable, t: int, log_grid: np.ndarray
                        ) -> tuple[tuple[int, float], ...]:
    """Boundaries where ``V_t`` may jump (a decision becomes affordable, or, after a
    withdrawal, the cash stops being negative: decision 0 at ``W = -I(t)``), one per cell."""
    thresholds = affordability_thresholds(table, 0, t, first=0)
    jumps: dict[int, float] = {}
    for threshold in thresholds[thresholds > 0.0]:
        k = jump_index(log_grid, math.log(threshold))
        if k > 0 and k not in jumps:
            jumps[k] = math.log(threshold)
    return tuple(sorted(jumps.items()))


#: Log-wealth distance below a candidate step at which ``value_jumps`` samples the value,
#: and the smallest rise (relative to the value's scale) it keeps as a jump.
JUMP_PROBE = 1e-9


JUMP_TOLERANCE = 1e-9


#: Largest number of jumps tracked in one year (the largest kept); bounds the work of a
#: problem whose thresholds multiply year after year.
MAX_TRACKED_JUMPS = 1024


def value_jumps(table: ProblemTable, t: int, log_grid: np.ndarray, kernels: Kernels,
                 next_jumps: tuple[Jump, ...], value_of) -> tuple[Jump, ...]:
    """Where ``V_t`` jumps (needed only where some portfolio is sharp).

    ``V_t`` jumps where a decision becomes affordable (a step), and a sharp portfolio
    ``j`` carries each jump of ``V_{t+1}`` at ``b`` (width ``w``) back to post-decision
    log-wealth ``y = b - m_j``, widened to ``sqrt(w^2 + s_j^2)``: ``V_t`` jumps at wealth
    ``c_d - I(t) + exp(y)`` for each decision ``d``, its width scaled by the derivative of
    log-wealth. Each candidate is sampled with ``value_of(wealth)``: just either side of a
    step, across a ramp at ``RAMP_KNOTS`` widths; candidates that do not rise are dropped.
    """
    count = int(table.decisions_per_year[0, t])
    offsets = table.decision_cost[0, t, :count] - table.infusions[0, t]
    own = offsets[offsets > 0.0]  # decision 0's is the bankruptcy threshold -I(t) > 0
    points, widths = [np.log(own)], [np.zeros(own.size)]
    if next_jumps:
        places = np.array([jump.place for jump in next_jumps])
        next_widths = np.array([jump.width for jump in next_jumps])
        for j in kernels.sharp_columns:
            y = places - kernels.log_drifts[j]
            width = np.sqrt(next_widths**2 + float(kernels.sigmas[j]) ** 2)
            width[width < NEGLIGIBLE_SPREAD] = 0.0
            wealth = offsets[:, None] + np.exp(y)[None, :]
            ok = (wealth > 0.0) & np.isfinite(wealth)
            new_width = width[None, :] * (np.exp(y)[None, :] / np.where(ok, wealth, 1.0))
            points.append(np.log(wealth[ok]))
            widths.append(new_width[ok])
    point_array, width_array = np.concatenate(points), np.concatenate(widths)
    inside = (point_array > log_grid[0]) & (point_array <= log_grid[-1])
    pairs = np.unique(np.column_stack([point_array[inside], width_array[inside]]), axis=0)
    if not pairs.size:
        return ()
    result: list[Jump] = []
    for is_ramp in (False, True):
        chosen = pairs[(pairs[:, 1] > 0.0) == is_ramp]
        if not chosen.size:
            continue
        place, width = chosen[:, 0], chosen[:, 1]
        if is_ramp:
            knot_x = place[:, None] + width[:, None] * RAMP_KNOTS[None, :]
            sample_x = knot_x
        else:
            # steps closer than two probes are one step (sampled below the first and above
            # the last), sampled a hair above: exp(log(c)) may round to just below c
            first = np.concatenate([[True], np.diff(place) > 2.0 * JUMP_PROBE])
            last = np.concatenate([first[1:], [True]])
            place, width = place[first], width[first]
            knot_x = np.column_stack([place - JUMP_PROBE, place])
            sample_x = np.column_stack([knot_x[:, 0],
                                        chosen[last, 0] + 1e-3 * JUMP_PROBE])
        knot_v = value_of(np.exp(sample_x.ravel())).reshape(knot_x.shape)
        size = knot_v[:, -1] - knot_v[:, 0]
        scale = max(1.0, float(np.abs(knot_v).max(initial=0.0)))
        for i in np.flatnonzero(size > JUMP_TOLERANCE * scale):
            result.append(Jump(jump_index(log_grid, float(place[i])), float(place[i]),
                                float(width[i]), float(size[i]), knot_x[i], knot_v[i]))
    if len(result) > MAX_TRACKED_JUMPS:
        result = sorted(result, key=lambda jump: -jump.size)[:MAX_TRACKED_JUMPS]
    return tuple(sorted(result, key=lambda jump: jump.place))


def largest_per_cell(jumps: tuple[Jump, ...]) -> tuple[Jump, ...]:
    """One jump per grid cell, the largest: the boundaries the smooth portfolios move."""
    best: dict[int, Jump] = {}
    for jump in jumps:
        if jump.cell > 0 and (jump.cell not in best or jump.size > best[jump.cell].size):
            best[jump.cell] = jump
    return tuple(best[k] for k in sorted(best))


def scaled_jumps(jumps: tuple[Jump, ...], factor: float) -> tuple[Jump, ...]:
    """``jumps`` of a value multiplied by ``factor``."""
    if factor == 1.0:
        return jumps
    return tuple(dataclasses.replace(j, size=j.size * factor, knot_v=j.knot_v * factor)
                 for j in jumps)


def scaled_representation(rep: Representation, factor: float, log_grid: np.ndarray,
            jumps: tuple[Jump, ...] | None) -> Representation:
    """``rep`` multiplied by ``factor`` (a survival probability): values, and the sharp view
    rebuilt from the scaled jumps; the jumps stay where they are."""
    values = rep.values * factor
    if rep.sharp is None or jumps is None:
        return Representation(values, rep.jumps)
    return Representation(values, rep.jumps,
                           sharp_view(values, log_grid, scaled_jumps(jumps, factor)))
