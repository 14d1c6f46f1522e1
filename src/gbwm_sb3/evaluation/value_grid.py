"""Value functions on a fine log-wealth grid, smoothed by a portfolio's one-year shock law:
what :class:`~gbwm_sb3.evaluation.critic_lookahead.CriticLookahead` reads a critic through.

A critic ``V(t, w, x)`` (``x`` the regime and inflation rate) is evaluated once a year on
a uniform log-wealth grid (x a uniform grid of inflation rates) and read by (bi)linear
interpolation, constant beyond the ends, where the observation is clipped. Its
expectation after a year in portfolio ``j`` is a convolution of those values with the
probabilities of the grid cells under the portfolio's shock law (:func:`smooth_rows`),
so a jump of ``V`` (where a goal becomes affordable) is integrated, not sampled. With
nominal amounts the price level is a third axis.
"""

from __future__ import annotations

import math

import numpy as np

from gbwm_sb3.problem.market import Market

__all__ = ["SmoothedValues", "smooth_rows", "grid_cell", "gauss_hermite", "WEALTH_POINTS",
           "RATE_POINTS", "NOMINAL_WEALTH_POINTS", "NOMINAL_RATE_POINTS", "LEVEL_POINTS"]


def gauss_hermite(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` Gauss-Hermite points of the standard normal and weights summing to 1."""
    z, w = np.polynomial.hermite_e.hermegauss(count)
    return z, w / w.sum()


#: Points of the log-wealth grid the critic is read from (uniform; about 0.005 apart).
WEALTH_POINTS = 4096
#: Points of the inflation-rate grid (uniform over the observation's clip range).
RATE_POINTS = 81
#: With nominal amounts (a third axis, the price level): points of each axis.
NOMINAL_WEALTH_POINTS = 2048
NOMINAL_RATE_POINTS = 41
LEVEL_POINTS = 17


def grid_cell(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cell of uniform ``grid`` holding each ``x`` and the fraction across it (clamped
    to the ends: values are constant beyond them)."""
    if grid.size == 1:
        return np.zeros(x.shape, dtype=np.intp), np.zeros(x.shape)
    step = (grid[-1] - grid[0]) / (grid.size - 1)
    position = np.clip((x - grid[0]) / step, 0.0, grid.size - 1.0)
    index = np.minimum(position.astype(np.intp), grid.size - 2)
    return index, position - index


#: Spreads (in log-wealth) of a shock's law the smoothing reaches on either side, in the
#: law's tail quantile of this many normal standard deviations.
_SMOOTHING_REACH = 8.0


def smooth_rows(rows: np.ndarray, law: Market | None, width: float, step: float
                ) -> np.ndarray:
    """``E[g(y + width Z)]`` for each row ``g`` of ``rows`` (values on a uniform grid of
    spacing ``step``, constant beyond its ends), ``Z`` standard normal (``law`` None) or
    in ``law``: a convolution with the probabilities of the grid cells around each point
    (cell ``k`` holds ``width Z`` in ``[(k - 1/2) step, (k + 1/2) step)``)."""
    if width <= 0.0:
        return np.array(rows, dtype=np.float64)
    if law is None:
        from scipy.special import ndtr as cdf

        reach = _SMOOTHING_REACH * width
    else:
        cdf = law.cdf
        reach = law.tail_quantile(_SMOOTHING_REACH) * width
    size = rows.shape[-1]
    half = int(min(math.ceil(reach / step), 4 * size))
    edges = (np.arange(-half, half + 2) - 0.5) * step / width
    mass = np.diff(np.asarray(cdf(edges), dtype=np.float64))
    mass[0] += float(cdf(edges[0]))  # the tails beyond the reach, at its ends
    mass[-1] += 1.0 - float(cdf(edges[-1]))
    padded = np.concatenate([np.repeat(rows[..., :1], half, axis=-1), rows,
                             np.repeat(rows[..., -1:], half, axis=-1)], axis=-1)
    length = padded.shape[-1] + mass.size - 1
    n_fft = 1 << (length - 1).bit_length()
    spectrum = np.fft.rfft(padded, n_fft, axis=-1) * np.fft.rfft(mass[::-1], n_fft)
    full = np.fft.irfft(spectrum, n_fft, axis=-1)
    return full[..., 2 * half: 2 * half + size]


class SmoothedValues:
    """Next year's value smoothed per (current regime, portfolio): ``values`` (R, n, K, L,
    G) on the log-wealth grid (G points), x the inflation-rate grid (K = 1 without) x the
    log-price-level grid (L = 1 without nominal amounts), with the log-drift ``drift``
    (R, n) and the inflation tilt ``sigma rho`` (R, n) added at reading."""

    def __init__(self, log_wealth: np.ndarray, rates: np.ndarray | None,
                 levels: np.ndarray | None, values: np.ndarray, drift: np.ndarray,
                 tilt: np.ndarray | float) -> None:
        self.log_wealth, self.rates, self.levels = log_wealth, rates, levels
        self.values, self.drift = values, drift
        self.tilt = np.broadcast_to(np.asarray(tilt, dtype=np.float64), drift.shape)

    def read(self, regime: np.ndarray, portfolio: np.ndarray, log_wealth: np.ndarray,
             rate: np.ndarray | None, level: np.ndarray | None) -> np.ndarray:
        """Linear in log-wealth, in the rate and in the log price level."""
        i, a = grid_cell(self.log_wealth, log_wealth)
        i_next = np.minimum(i + 1, self.log_wealth.size - 1)
        zero = np.zeros(i.shape, dtype=np.intp)
        j, b = (zero, np.zeros(i.shape)) if self.rates is None or rate is None \
            else grid_cell(self.rates, rate)
        k, c = (zero, np.zeros(i.shape)) if self.levels is None or level is None \
            else grid_cell(self.levels, np.log(level))
        j_next = np.minimum(j + 1, self.values.shape[2] - 1)
        k_next = np.minimum(k + 1, self.values.shape[3] - 1)
        table = self.values

        def at(jj: np.ndarray, kk: np.ndarray) -> np.ndarray:
            low = table[regime, portfolio, jj, kk, i]
            return low + a * (table[regime, portfolio, jj, kk, i_next] - low)

        below = at(j, k) + c * (at(j, k_next) - at(j, k))
        above = at(j_next, k) + c * (at(j_next, k_next) - at(j_next, k))
        return below + b * (above - below)
