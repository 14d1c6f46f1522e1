"""The exact optimum of a GBWM problem by dynamic programming (Bellman recursion).

One solver for the whole class (several goals a year, goals with levels, infusions; see
``GBWMProblem.decisions``); the paper's family is the case of two decisions, skip or
take, in each goal year. Wealth is the state. Method (the paper's DP benchmark):

* Wealth lives on a grid uniform in log-wealth, ``x_i = x_0 + i h`` with
  ``h = 1 / grid_density``. The grid runs from ``wealth_floor`` times the smaller of W0
  and the cheapest decision (and the smallest withdrawal) up to the larger of W0 (plus
  the savings) and the dearest decision, grown at the best portfolio's log-drift plus
  ``upper_sigmas`` times the largest volatility times sqrt(T).
* At ``t < T`` the value is the best over the year's affordable decisions ``d`` of
  ``u_d + C_t(W + I(t) - c_d)``, ``C_t`` the best continuation over the portfolios; at
  ``T``, the utility of the best affordable decision (taken automatically). Where a
  withdrawal (``I(t) < 0``) exceeds wealth, the cash ``W + I(t)`` is negative: bankruptcy,
  worth 0 (no decision, not even decision 0, is affordable; nothing is taken afterwards).
* ``V_{t+1}`` is represented as piecewise constant on the grid's cells (cell ``i``
  holds ``V_{t+1}(x_i)``; the end cells extend to +-infinity). Cell boundaries are the
  midpoints between grid points, except where a decision becomes affordable
  (``W = c_d - I(t)``, bankruptcy's end ``W = -I(t)`` included): that boundary is moved
  to its exact place, so the jump of ``V`` sits where it belongs instead of being rounded
  by half a cell.
* The continuation of each portfolio from every grid point is a convolution of CDF
  differences of the law of next year's log-wealth ``x + mu_j - sigma_j^2/2 +
  sigma_j Z`` at the cell boundaries (exact for the piecewise-constant value), with its
  exact derivative; ``Z`` follows the problem's market (:mod:`gbwm_sb3.problem.market`:
  normal, or Student-t scaled to unit variance, whose kernels reach as far as the grid:
  see ``Kernels``). At off-grid post-decision wealth it is read by cubic Hermite
  interpolation, as ``act`` reads it. The value at ``W0`` uses exact transitions from
  each decision's exact post-decision wealth.
* Near-riskless portfolios (cash; volatility down to 0) are *sharp*: see
  ``SHARP_WIDTH_STEPS`` and ``value_jumps``; narrow ones refine the grid (``refine``).
  In a Student-t market a sharp portfolio's own transitions use the normal law of the
  same variance (its spread over the whole horizon is below half a grid step).

``DPSolution.act`` evaluates the optimal decision at any wealth, not only on the grid,
from the continuation values at the exact post-decision wealth; only the portfolios
between those optimal at the two neighbouring grid points are candidates (identical to
the full argmax in tests). Monte Carlo simulation of ``act`` reproduces
``expected_utility`` within noise (tests/test_dp.py, tests/test_dp_riskless.py,
tests/test_dp_economies.py).
"""

from __future__ import annotations

from gbwm_sb3.dp.grid import (
    DEFAULT_GRID_DENSITY,
    DEFAULT_INFLATION_NODES,
    DEFAULT_INFLATION_QUADRATURE,
)
from gbwm_sb3.dp.solutions import DPSolution, InflationDPSolution, RegimeDPSolution
from gbwm_sb3.dp.solver import beyond_dp, solve_dp

__all__ = ["DPSolution", "RegimeDPSolution", "InflationDPSolution", "solve_dp", "beyond_dp",
           "DEFAULT_GRID_DENSITY", "DEFAULT_INFLATION_NODES", "DEFAULT_INFLATION_QUADRATURE"]
