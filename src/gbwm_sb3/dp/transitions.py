"""One year of returns integrated against a value function on the log-wealth grid.

The law of the shock (:class:`Law`), the per-portfolio kernels (:class:`Kernels`), the
representations of ``V_{t+1}`` (piecewise constant with moved cell boundaries, or the sharp
view of a near-riskless portfolio), and the continuation values they give on and off the
grid, with the cubic Hermite reading that ``act`` uses. See :mod:`gbwm_sb3.dp`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from gbwm_sb3.problem.market import LognormalMarket, Market

SQRT_2PI = math.sqrt(2.0 * math.pi)


class Law:
    """The law of the standardised shock ``Z`` as the solver's formulas read it.

    Every transition is an integral against the law of ``Z`` (the market's, unit
    variance): cell probabilities from its ``cdf``, upper tails from :meth:`above_minus`,
    slopes from its density ``shape(z) / norm``, hinges from its upper partial mean. The
    normal law keeps the expressions of the normal-only solver, and a symmetric law reads
    ``P(Z > -x)`` as ``F(x)`` as before, so a lognormal problem is solved bit for bit as
    before. ``reach(k, scale, limit)``: the log-wealth distance within which a transition
    of spread ``scale`` is integrated, ``k`` spreads for the normal law; another law
    reaches its quantile of the same tail mass (on either side), at most ``limit`` (beyond
    which the value is constant, so the rest of the mass is counted at the window's end).
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        self.normal = isinstance(market, LognormalMarket)
        self.symmetric = self.normal or market.symmetric
        self.norm = SQRT_2PI if self.normal else 1.0
        self._quantiles: dict[float, float] = {}

    def cdf(self, z: np.ndarray) -> np.ndarray:
        return ndtr(z) if self.normal else self.market.cdf(z)

    def above_minus(self, x: np.ndarray) -> np.ndarray:
        """``P(Z > -x)`` (``F(x)`` for a symmetric law)."""
        if self.symmetric:
            return self.cdf(x)
        return self.market.survival(-np.asarray(x, dtype=np.float64))

    def shape(self, z: np.ndarray) -> np.ndarray:
        """The density times ``norm``."""
        return np.exp(-0.5 * z * z) if self.normal else self.market.pdf(z)

    def hinge_gap(self, z: np.ndarray) -> np.ndarray:
        """``E[max(z + Z, 0)] - max(z, 0)``: what the shock adds to a hinge at distance z
        (``z P(Z > -z) + E[Z 1{Z > -z}] - max(z, 0)``)."""
        if self.normal:
            return z * ndtr(z) + np.exp(-0.5 * z * z) / SQRT_2PI - np.maximum(z, 0.0)
        return z * self.above_minus(z) + self.market.upper_mean(-z) - np.maximum(z, 0.0)

    def quantile(self, normal_sigmas: float) -> float:
        """The shock with as little mass beyond it as the normal law beyond
        ``normal_sigmas`` (``normal_sigmas`` itself for the normal law)."""
        if normal_sigmas not in self._quantiles:
            self._quantiles[normal_sigmas] = self.market.tail_quantile(normal_sigmas)
        return self._quantiles[normal_sigmas]

    def reach(self, normal_sigmas: float, scale: float, limit: float = math.inf) -> float:
        if self.normal:
            return normal_sigmas * scale
        return min(self.quantile(normal_sigmas) * scale, limit)


NORMAL_LAW = Law(LognormalMarket())


@dataclass(frozen=True)
class Representation:
    """A value function on the grid plus where its jumps sit."""

    values: np.ndarray  # (G,)
    # (k, log-wealth): the boundary between cells k-1 and k moved to where the value jumps
    jumps: tuple[tuple[int, float], ...] = ()
    # the value as every portfolio reads it where some portfolio is sharp
    sharp: SharpView | None = None


@dataclass(frozen=True, eq=False)
class SharpView:
    """A value function as :func:`sharp_continuation` reads it: the sum of its steps,
    ``size Phi((x - b) / w)`` (``size 1{x >= b}`` where ``w = 0``), and of a continuous
    remainder, linear between knots (the grid points and exact samples of the value around
    each step), constant beyond the last knots."""

    knot_x: np.ndarray  # (K,) sorted log-wealth
    knot_v: np.ndarray  # (K,) remainder there
    step_x: np.ndarray  # (J,) sorted log-wealth of the steps
    step_size: np.ndarray  # (J,)
    step_width: np.ndarray  # (J,)
    # the remainder as a sum of hinges max(x - k, 0) (slope changes at each knot), and
    # split as the grid-only interpolation (G,) plus the hinges near the extra knots
    # (empty in a view of the steps alone, which only :meth:`steps_at` reads)
    knot_delta: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (K,)
    grid_delta: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (G,)
    extra_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra_delta: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def steps_at(self, at: np.ndarray, sigma: float, law: Law = NORMAL_LAW) -> np.ndarray:
        """``sum_i size_i P(at + sigma Z >= b_i + w_i Z_i)``: the steps seen from ``at``.

        ``Z`` follows ``law``; a ramp's own ``Z_i`` is normal, and ``sigma Z - w_i Z_i``
        is read as ``law`` with spread ``sqrt(w_i^2 + sigma^2)`` (exact for the normal law
        and for steps; ramps are narrower than half a grid step)."""
        total = np.concatenate([[0.0], np.cumsum(self.step_size)])
        out = total[np.searchsorted(self.step_x, at, side="right")]
        spread = np.sqrt(self.step_width**2 + sigma**2)
        if not spread.any():
            return out
        reach = law.reach(SHARP_TAIL_SIGMAS, float(spread.max()))

        def term(rows: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, ...]:
            distance = at[rows] - self.step_x[i]
            width = spread[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                smooth = law.above_minus(distance / np.where(width > 0.0, width, 1.0))
            above = np.where(width > 0.0, smooth, distance >= 0.0)
            return (self.step_size[i] * (above - (distance >= 0.0)),)

        out += pair_sums(np.searchsorted(self.step_x, at - reach, side="left"),
                         np.searchsorted(self.step_x, at + reach, side="right"), term)[0]
        return out

    def step_density(self, at: np.ndarray, sigma: float, law: Law = NORMAL_LAW
                     ) -> np.ndarray:
        """Derivative of :meth:`steps_at` in ``at`` (``sigma > 0``)."""
        out = np.zeros(at.shape)
        spread = np.sqrt(self.step_width**2 + sigma**2)
        if not spread.size:
            return out
        reach = law.reach(SHARP_TAIL_SIGMAS, float(spread.max()))

        def term(rows: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, ...]:
            z = (at[rows] - self.step_x[i]) / spread[i]
            return (self.step_size[i] * law.shape(z) / (law.norm * spread[i]),)

        out += pair_sums(np.searchsorted(self.step_x, at - reach, side="left"),
                         np.searchsorted(self.step_x, at + reach, side="right"), term)[0]
        return out


def pairs(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, index) with ``low[row] <= index < high[row]``, flattened (row-major)."""
    counts = np.maximum(high - low, 0)
    rows = np.repeat(np.arange(low.shape[0]), counts)
    starts = np.cumsum(counts) - counts
    index = np.arange(rows.shape[0]) - np.repeat(starts - low, counts)
    return rows, index


#: Most (point, index) pairs :func:`pair_sums` forms at once: about 100 bytes each, so
#: memory stays bounded however many knots a value function has.
MAX_PAIRS = 1 << 21


def pair_sums(low: np.ndarray, high: np.ndarray,
              term: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]
              ) -> tuple[np.ndarray, ...]:
    """Per row ``r``, the sums over ``low[r] <= index < high[r]`` of each array ``term``
    returns for the (rows, index) pairs; rows are taken in blocks of at most
    :data:`MAX_PAIRS` pairs (one block: as :func:`pairs`; the sums are the same)."""
    size = low.shape[0]
    counts = np.maximum(high - low, 0)
    ends = np.cumsum(counts)
    cuts = [0]
    while cuts[-1] < size:  # the next block: as many rows as fit (at least one)
        base = ends[cuts[-1] - 1] if cuts[-1] else 0
        stop = int(np.searchsorted(ends, base + MAX_PAIRS, side="right"))
        cuts.append(min(max(stop, cuts[-1] + 1), size))
    sums: list[np.ndarray] = []
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        rows, index = pairs(low[start:stop], high[start:stop])
        parts = term(rows + start, index)
        if not sums:
            sums = [np.zeros(size) for _ in parts]
        for total, part in zip(sums, parts, strict=True):
            total[start:stop] = np.bincount(rows, part, minlength=stop - start)
    if not sums:  # no rows
        empty = np.zeros(0, dtype=np.intp)
        sums = [np.zeros(0) for _ in term(empty, empty)]
    return tuple(sums)


def best_continuation(q: np.ndarray, dq: np.ndarray, choice: np.ndarray, kernels: Kernels,
                       next_value: Representation, x0: float, log_wealth: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Best continuation value and its portfolio at post-decision log-wealth, (N,) each.

    The smooth portfolios by :func:`hermite_best` (``choice``: the best smooth portfolio
    at each grid point); the sharp ones exactly from ``next_value`` (``V_{t+1}``). Ties go
    to the lower portfolio index, as ``argmax`` does.
    """
    sharp = kernels.sharp_columns
    if sharp.size < kernels.sharp.shape[0]:
        best_value, best_portfolio = hermite_best(q, dq, choice, x0, kernels.h, log_wealth,
                                                   None if not sharp.size else kernels.sharp)
    else:
        best_value = np.full(log_wealth.shape, -np.inf)
        best_portfolio = np.zeros(log_wealth.shape, dtype=np.intp)
    if sharp.size:
        exact = off_grid(next_value, kernels, x0, log_wealth, sharp)
        for c, j in enumerate(sharp):
            better = (exact[:, c] > best_value) | ((exact[:, c] == best_value)
                                                   & (j < best_portfolio))
            best_value[better] = exact[better, c]
            best_portfolio[better] = j
    return best_value, best_portfolio


def hermite_columns(q: np.ndarray, dq: np.ndarray, x0: float, h: float,
                     log_wealth: np.ndarray) -> np.ndarray:
    """Cubic Hermite interpolation of every column of ``q`` (G, n) with slopes ``dq`` at
    post-decision log-wealth, (N, n) (clamped to the grid)."""
    grid_size = q.shape[0]
    position = np.clip((log_wealth - x0) / h, 0.0, grid_size - 1.0)
    left = np.minimum(position.astype(np.intp), grid_size - 2)
    s = (position - left)[:, None]
    q0, q1 = q[left], q[left + 1]
    d0, d1 = dq[left] * h, dq[left + 1] * h
    s2, s3 = s * s, s * s * s
    return ((2 * s3 - 3 * s2 + 1) * q0 + (s3 - 2 * s2 + s) * d0
            + (-2 * s3 + 3 * s2) * q1 + (s3 - s2) * d1)


def smooth_choice(q: np.ndarray, kernels: Kernels) -> np.ndarray:
    """Index of the best smooth portfolio at each grid point, (G,) (0 if none is smooth)."""
    if not kernels.sharp_columns.size:
        return q.argmax(axis=1)
    if not kernels.smooth_columns.size:
        return np.zeros(q.shape[0], dtype=np.intp)
    return kernels.smooth_columns[q[:, kernels.smooth_columns].argmax(axis=1)]


def hermite_best(q: np.ndarray, dq: np.ndarray, choice: np.ndarray, x0: float, h: float,
                  log_wealth: np.ndarray, excluded: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Best continuation value and its portfolio at post-goal log-wealth, (N,) each.

    Candidates are the portfolios from the one optimal at the grid point on
    the left to the one optimal on the right (portfolios are ordered along
    the frontier, and the optimal one moves through them as wealth moves);
    each is evaluated by cubic Hermite interpolation of ``q`` (G, n) with slopes
    ``dq`` and the best is kept. Where both grid points agree (almost everywhere)
    only one is evaluated. Portfolios marked in ``excluded`` (n,) are skipped.
    """
    grid_size = q.shape[0]
    position = np.clip((log_wealth - x0) / h, 0.0, grid_size - 1.0)
    left = np.minimum(position.astype(np.intp), grid_size - 2)
    s = position - left
    s2 = s * s
    s3 = s2 * s
    weights = (2 * s3 - 3 * s2 + 1, (s3 - 2 * s2 + s) * h, 3 * s2 - 2 * s3, (s3 - s2) * h)
    right = left + 1
    lowest = np.minimum(choice[left], choice[right])
    span = np.abs(choice[left] - choice[right])

    def hermite(rows: np.ndarray | slice, candidate: np.ndarray) -> np.ndarray:
        lft, rgt = left[rows], right[rows]
        return (weights[0][rows] * q[lft, candidate] + weights[1][rows] * dq[lft, candidate]
                + weights[2][rows] * q[rgt, candidate] + weights[3][rows] * dq[rgt, candidate])

    best_portfolio = lowest.copy()
    best_value = hermite(slice(None), lowest)
    for offset in range(1, int(span.max(initial=0)) + 1):
        rows = np.flatnonzero(span >= offset)
        candidate = lowest[rows] + offset
        if excluded is not None:
            keep = ~excluded[candidate]
            rows, candidate = rows[keep], candidate[keep]
        value = hermite(rows, candidate)
        better = value > best_value[rows]
        best_value[rows[better]] = value[better]
        best_portfolio[rows[better]] = candidate[better]
    return best_value, best_portfolio


def probability_below(bound_minus_mean: np.ndarray, sigma: float, law: Law = NORMAL_LAW
                       ) -> np.ndarray:
    """``P(mean + sigma Z < bound)`` from ``bound - mean``; ``sigma = 0`` is deterministic growth.

    With ``sigma = 0`` wealth that lands exactly on a boundary counts as above it (a goal
    whose cost equals the wealth is affordable), as in the envs.
    """
    if sigma > 0.0:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return law.cdf(bound_minus_mean / sigma)
    return (np.asarray(bound_minus_mean) > 0.0).astype(np.float64)


def probability_above(mean_minus_bound: np.ndarray, sigma: float, law: Law = NORMAL_LAW
                       ) -> np.ndarray:
    """``P(mean + sigma Z >= bound)`` from ``mean - bound`` (see :func:`probability_below`)."""
    if sigma > 0.0:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return law.above_minus(mean_minus_bound / sigma)
    return (np.asarray(mean_minus_bound) >= 0.0).astype(np.float64)


class Kernels:
    """Per-portfolio transition kernels on the uniform log grid.

    ``sharp`` marks the sharp portfolios (see ``SHARP_WIDTH_STEPS``; none by default).
    The convolution of the piecewise-constant value with so narrow a kernel would be a
    staircase at the grid's scale: each year would round wealth to a grid cell, a bias
    that adds up over the horizon, and the cubic interpolation of ``act`` could not follow
    it. Where a portfolio is sharp, every portfolio reads the value through its sharp view
    instead (:func:`read_view`).

    ``law`` is the market's law of the shock (:class:`Law`), or one law per portfolio (a
    market with a law per portfolio: multi-asset rows). Kernels reach
    ``tail_sigmas`` standard deviations for the normal law (the mass beyond, 1.3e-12 a
    side, is left out, as it always was); a fat-tailed law reaches its quantile of the
    same tail mass, at most ``span`` (the grid's width in log-wealth), and the mass beyond
    is counted in the end cells: beyond ``span`` the value is constant, so that is exact.
    Sharp portfolios read the normal law of the same variance (see :meth:`law_of`).
    """

    def __init__(self, log_drifts: np.ndarray, sigmas: np.ndarray, h: float,
                 tail_sigmas: float, sharp: np.ndarray | None = None,
                 law: Law | Sequence[Law] = NORMAL_LAW, span: float = math.inf) -> None:
        self.log_drifts = log_drifts
        self.sigmas = sigmas
        self.h = h
        self.laws = None if isinstance(law, Law) else list(law)
        self.law = law if isinstance(law, Law) else self.laws[0]  # type: ignore[index]
        self.sharp = np.zeros(sigmas.shape, dtype=bool) if sharp is None else sharp
        self.smooth_columns = np.flatnonzero(~self.sharp)
        self.sharp_columns = np.flatnonzero(self.sharp)
        if self.laws is None and self.law.normal:
            reach = tail_sigmas * sigmas + np.abs(log_drifts)
        else:
            if self.laws is None:  # one law (sharp portfolios too): as before, bit for bit
                quantiles = np.full(sigmas.shape, self.law.quantile(tail_sigmas))
            else:
                quantiles = np.array([self.law_of(j).quantile(tail_sigmas)
                                      for j in range(sigmas.shape[0])])
            reach = np.minimum(quantiles * sigmas, span) + np.abs(log_drifts)
        self.half_widths = np.ceil(reach / h).astype(int) + 1
        self.pad = int(2 * self.half_widths.max() + 2)
        self.cell_kernels = []  # probability of landing in cell i + d, d = -L..L (reversed)
        self.slope_kernels = []  # density at boundary i + d - 1/2 (for the derivative)
        for j, (m, s, half, sharp) in enumerate(zip(log_drifts, sigmas, self.half_widths,
                                                    self.sharp, strict=True)):
            column_law = self.law_of(j)
            d = np.arange(-half, half + 1, dtype=np.float64)
            upper = probability_below((d + 0.5) * h - m, s, column_law)
            lower = probability_below((d - 0.5) * h - m, s, column_law)
            if not column_law.normal:  # the tails, in the end cells
                lower[0], upper[-1] = 0.0, 1.0
            self.cell_kernels.append((upper - lower)[::-1].copy())
            if sharp:
                self.slope_kernels.append(np.zeros_like(d))
                continue
            z = ((d - 0.5) * h - m) / s
            self.slope_kernels.append((column_law.shape(z) / (column_law.norm * s))[::-1]
                                      .copy())

    def law_of(self, j: int | np.integer) -> Law:
        """The law portfolio ``j``'s transitions are integrated against: the market's, but
        the normal law of the same variance for a sharp portfolio, whose spread over the
        whole horizon is below half a grid step (the difference is below the grid's
        resolution; its steps and hinges are then integrated in closed form within a few
        spreads)."""
        if self.sharp[j]:
            return NORMAL_LAW
        return self.law if self.laws is None else self.laws[int(j)]


def on_grid(rep: Representation, kernels: Kernels, log_grid: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Continuation value and its log-wealth derivative from every grid point, (G, n) each."""
    values = rep.values
    grid_size = values.shape[0]
    n = kernels.sigmas.shape[0]
    q = np.empty((grid_size, n))
    dq = np.empty((grid_size, n))
    if rep.sharp is not None:  # every portfolio reads the value the same way
        for j in range(n):
            q[:, j], dq[:, j] = read_view_on_grid(rep.sharp, log_grid,
                                                   float(kernels.log_drifts[j]),
                                                   float(kernels.sigmas[j]), kernels.law_of(j))
        return q, dq
    jumps = np.zeros(grid_size + 1)
    jumps[1:grid_size] = np.diff(values)  # D_k at boundary k (between cells k-1 and k)
    for j in range(n):
        half = kernels.half_widths[j]
        padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
        q[:, j] = np.convolve(padded, kernels.cell_kernels[j], mode="valid")
        padded_jumps = np.concatenate([np.zeros(half), jumps[:grid_size], np.zeros(half)])
        # slope at x_i: sum_k D_k phi((x_i + m - b_k)/s)/s with b_k = x_i - (i - k + 1/2) h
        dq[:, j] = np.convolve(padded_jumps, kernels.slope_kernels[j], mode="valid")
    for k, jump_log in rep.jumps:
        moved_boundary_correction(values, k, jump_log, kernels, log_grid, q, dq, log_grid[0])
    return q, dq


def moved_boundary_correction(values: np.ndarray, k: int, jump_log: float, kernels: Kernels,
                               sources: np.ndarray, q: np.ndarray, dq: np.ndarray | None,
                               x0: float, columns: np.ndarray | None = None) -> None:
    """Shift the boundary between cells k-1 and k from the midpoint to ``jump_log`` (in place).

    ``q`` holds the portfolios ``columns`` (default: all).
    """
    jump = values[k] - values[k - 1]
    midpoint = x0 + (k - 0.5) * kernels.h
    columns = np.arange(kernels.sigmas.shape[0]) if columns is None else columns
    for c, j in enumerate(columns):
        mean = sources + kernels.log_drifts[j]
        s = float(kernels.sigmas[j])
        law = kernels.law_of(j)
        q[:, c] += jump * (probability_above(mean - jump_log, s, law)
                           - probability_above(mean - midpoint, s, law))
        if dq is not None and not kernels.sharp[j]:
            z_new = (mean - jump_log) / s
            z_mid = (mean - midpoint) / s
            dq[:, c] += jump * (law.shape(z_new) - law.shape(z_mid)) / (law.norm * s)


def off_grid(rep: Representation, kernels: Kernels, x0: float, sources: np.ndarray,
              columns: np.ndarray | None = None) -> np.ndarray:
    """Continuation value from arbitrary post-goal log-wealth ``sources``, exact.

    Returns (S, n), or (S, len(columns)) for the portfolios ``columns``.
    """
    columns = np.arange(kernels.sigmas.shape[0]) if columns is None else columns
    out = np.empty((sources.shape[0], len(columns)))
    if rep.sharp is not None:  # every portfolio reads the value the same way
        for c, j in enumerate(columns):
            out[:, c] = sharp_continuation(rep, kernels, sources, int(j))
        return out
    values = rep.values
    grid_size = values.shape[0]
    pad = kernels.pad
    padded = np.concatenate([np.full(pad, values[0]), values, np.full(pad, values[-1])])
    h = kernels.h
    for c, j in enumerate(columns):
        m, s, half = kernels.log_drifts[j], float(kernels.sigmas[j]), kernels.half_widths[j]
        # clamp far outside the grid, where the value is the (constant) end cell's
        lo = x0 - (pad - half - 1) * h
        hi = x0 + (grid_size - 1 + pad - half - 1) * h
        mean = np.clip(sources + m, lo, hi)
        centre = np.rint((mean - x0) / h).astype(np.intp) + pad  # padded cell index
        offsets = np.arange(-half, half + 2)  # boundary offsets
        cells = centre[:, None] + offsets[None, :-1]
        # boundary below cell c is at x0 + (c - pad - 1/2) h
        bounds = x0 + (centre[:, None] + offsets[None, :] - pad - 0.5) * h
        cdf = probability_below(bounds - mean[:, None], s, kernels.law_of(j))
        prob = np.diff(cdf, axis=1)
        out[:, c] = np.einsum("ij,ij->i", prob, padded[cells])
        # mass beyond the window lies in constant regions at this point's scale
        out[:, c] += cdf[:, 0] * padded[cells[:, 0]] + (1.0 - cdf[:, -1]) * padded[cells[:, -1]]
    for k, jump_log in rep.jumps:
        moved_boundary_correction(values, k, jump_log, kernels, sources, out, None, x0, columns)
    return out


def sharp_continuation(rep: Representation, kernels: Kernels, sources: np.ndarray,
                        j: int) -> np.ndarray:
    """Continuation value of portfolio ``j`` from log-wealth ``sources`` read from
    ``rep.sharp`` (see :func:`read_view`), (S,)."""
    view = rep.sharp
    if view is None:
        raise RuntimeError("a sharp portfolio needs the value's sharp view")
    return read_view(view, sources + kernels.log_drifts[j], float(kernels.sigmas[j]),
                      law=kernels.law_of(j))[0]


def read_view(view: SharpView, landing: np.ndarray, sigma: float, slope: bool = False,
               law: Law = NORMAL_LAW) -> tuple[np.ndarray, np.ndarray | None]:
    """``E[V(y + sigma Z)]`` at each ``y`` of ``landing`` (and its derivative if ``slope``).

    Integrates the view (steps plus a piecewise-linear remainder) exactly against
    ``law``: a step of width ``w`` becomes one of width ``sqrt(w^2 + sigma^2)``, the
    remainder, a sum of hinges ``delta_k max(x - k, 0)``, gains ``delta_k sigma
    gap((y - k) / sigma)`` from each knot within ``SHARP_TAIL_SIGMAS`` standard deviations
    of the normal law, or the same tail mass of another (:meth:`Law.hinge_gap`; beyond,
    the gap is below 1e-16). Exact for ``sigma = 0`` (a riskless portfolio) given the
    knots; the derivative is 0 there.
    """
    sigma = sigma if sigma >= NEGLIGIBLE_SPREAD else 0.0
    out = np.interp(landing, view.knot_x, view.knot_v) + view.steps_at(landing, sigma, law)
    if sigma == 0.0:
        return out, (np.zeros(landing.shape) if slope else None)
    farthest = (float(max(landing.max() - view.knot_x[0], view.knot_x[-1] - landing.min()))
                if landing.size and not law.normal else 0.0)
    reach = law.reach(SHARP_TAIL_SIGMAS, sigma, farthest + 1.0)
    gap, below = near_hinges(view.knot_x, view.knot_delta, landing, sigma, reach, slope, law)
    out += gap
    if not slope:
        return out, None
    # slope of the remainder: the hinges at or below y, smoothed near y
    slopes = np.concatenate([[0.0], np.cumsum(view.knot_delta)])
    derivative = slopes[np.searchsorted(view.knot_x, landing, side="right")] + below
    return out, derivative + view.step_density(landing, sigma, law)


def read_view_on_grid(view: SharpView, log_grid: np.ndarray, drift: float, sigma: float,
                       law: Law = NORMAL_LAW) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_view` from every grid point (landing at ``x_i + drift``), with slopes.

    The grid's hinges are one convolution (the grid is uniform); only the hinges near the
    extra knots are summed one by one.
    """
    landing = log_grid + drift
    if sigma < NEGLIGIBLE_SPREAD:
        return read_view(view, landing, 0.0, slope=True)  # type: ignore[return-value]
    h = float(log_grid[1] - log_grid[0])
    # every knot is within the grid: a wider reach adds nothing
    reach = law.reach(SHARP_TAIL_SIGMAS, sigma, float(log_grid[-1] - log_grid[0]) + h)
    half = int(math.ceil((reach + abs(drift)) / h)) + 1
    z = (np.arange(-half, half + 1) * h + drift) / sigma  # (y_i - x_c) / sigma for i - c = n
    size = log_grid.shape[0]
    out = np.interp(landing, view.knot_x, view.knot_v) + view.steps_at(landing, sigma, law)
    out += np.convolve(view.grid_delta, sigma * law.hinge_gap(z))[half:half + size]
    derivative = np.convolve(view.grid_delta, law.above_minus(z) - (z >= 0.0))[half:half + size]
    gap, below = near_hinges(view.extra_x, view.extra_delta, landing, sigma, reach, True, law)
    out += gap
    slopes = np.concatenate([[0.0], np.cumsum(view.knot_delta)])
    derivative += slopes[np.searchsorted(view.knot_x, landing, side="right")] + below
    return out, derivative + view.step_density(landing, sigma, law)


def near_hinges(knots: np.ndarray, delta: np.ndarray, at: np.ndarray, sigma: float,
                 reach: float, slope: bool, law: Law = NORMAL_LAW
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``sum_k delta_k sigma gap((at - k) / sigma)`` over the knots within ``reach`` of each
    point, and (if ``slope``) its derivative ``sum_k delta_k (F(.) - 1{at >= k})``."""
    def term(rows: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, ...]:
        z = (at[rows] - knots[k]) / sigma
        gap = delta[k] * sigma * law.hinge_gap(z)
        if not slope:
            return (gap,)
        return gap, delta[k] * (law.above_minus(z) - (z >= 0.0))

    sums = pair_sums(np.searchsorted(knots, at - reach, side="left"),
                     np.searchsorted(knots, at + reach, side="right"), term)
    if not slope:
        return sums[0], np.zeros(0)
    return sums[0], sums[1]


#: Standard deviations beyond which a sharp portfolio's landing law is taken as its tail.
SHARP_TAIL_SIGMAS = 8.0


#: Spreads in log-wealth below this are read as 0: far below the resolution of float64
#: log-wealth, where a volatility of 1e-300 and a riskless asset cannot be told apart.
NEGLIGIBLE_SPREAD = 1e-12


#: Knots that sample a ramp of width ``w`` (in widths from its centre): exact values of the
#: value function there, so that the remainder follows whatever differs from a smoothed
#: step (a step under a max with another portfolio's value).
RAMP_KNOTS = np.linspace(-4.0, 4.0, 17)


@dataclass(frozen=True)
class Jump:
    """A jump of ``V_t`` at log-wealth ``place``: a step (``width`` 0) or a steep ramp."""

    cell: int  # boundary index k of the grid cell it sits in (x_{k-1} < place <= x_k)
    place: float
    width: float  # standard deviation in log-wealth of a ramp; 0 for a step
    size: float  # rise across it
    knot_x: np.ndarray  # where the value was sampled around it (log-wealth)
    knot_v: np.ndarray  # the value there


def sharp_view(values: np.ndarray, log_grid: np.ndarray, jumps: tuple[Jump, ...]
                ) -> SharpView:
    """The sharp view of a value with grid values ``values`` and the jumps ``jumps``."""
    ordered = sorted(jumps, key=lambda jump: jump.place)
    steps = SharpView(np.zeros(0), np.zeros(0),
                       np.array([jump.place for jump in ordered], dtype=np.float64),
                       np.array([jump.size for jump in ordered], dtype=np.float64),
                       np.array([jump.width for jump in ordered], dtype=np.float64))
    x = np.concatenate([log_grid, *(jump.knot_x for jump in ordered)])
    v = np.concatenate([values, *(jump.knot_v for jump in ordered)])
    inside = (x >= log_grid[0]) & (x <= log_grid[-1])
    knot_x, first = np.unique(x[inside], return_index=True)
    knot_v = v[inside][first] - steps.steps_at(knot_x, 0.0)
    knot_delta = slope_changes(knot_x, knot_v)
    on_grid = np.searchsorted(knot_x, log_grid)  # the grid points are knots
    grid_delta = slope_changes(log_grid, knot_v[on_grid])
    extra = knot_delta.copy()
    extra[on_grid] -= grid_delta
    near = np.flatnonzero(extra)
    return SharpView(knot_x, knot_v, steps.step_x, steps.step_size, steps.step_width,
                      knot_delta, grid_delta, knot_x[near], extra[near])


def slope_changes(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Slope change at each knot of the piecewise-linear (constant beyond the ends) function
    through ``(x, v)``: the coefficients of its hinges ``max(x - x_k, 0)``."""
    slopes = np.concatenate([[0.0], np.diff(v) / np.diff(x), [0.0]])
    return np.diff(slopes)
