"""The exact optimum of a GBWM problem by dynamic programming (Bellman recursion).

Method (the paper's dynamic-programming benchmark):

* Wealth lives on a grid uniform in log-wealth, ``x_i = x_0 + i h`` with
  ``h = 1 / grid_density``. The grid runs from ``wealth_floor`` times the
  smaller of W0 and the cheapest goal up to the larger of W0 and the dearest
  goal grown at the best portfolio's log-drift plus ``upper_sigmas`` times the
  largest volatility times sqrt(T).
* The value function ``V_{t+1}`` is represented as piecewise constant on the
  grid's cells (cell ``i`` holds ``V_{t+1}(x_i)``; the end cells extend to
  +-infinity). Cell boundaries are the midpoints between grid points, except
  that the boundary next to a goal's cost is moved to ``log C`` exactly, so the
  jump of ``V`` at ``W = C`` (the goal becomes affordable) sits where it
  belongs instead of being rounded by half a cell.
* Transition probabilities are CDF differences of the normal law of
  next-year log-wealth, ``x + mu_j - sigma_j^2/2 + sigma_j Z``, at those cell
  boundaries. This integrates the piecewise-constant ``V_{t+1}`` exactly, for
  any source wealth ``x``, on or off the grid.
* From the grid's wealth points (no goal taken) the transition is a
  convolution (the same kernel for every grid point). After a goal is taken
  the post-goal wealth ``W_i - C`` is off the grid; its transition
  probabilities are computed from that exact wealth (no rounding), cell by
  cell in a +-``tail_sigmas`` window.
* At ``t = T`` the goal is taken automatically when affordable.

The general class (several goals a year, goals with levels, infusions; see
``GBWMProblem.decisions``) keeps wealth as the state. At ``t < T`` the value is
the best over the year's affordable decisions ``d`` of ``u_d + C_t(W + I(t) - c_d)``
with ``C_t`` the best continuation; ``C_t`` is computed on the grid as above and
read at the (off-grid) post-decision wealth by the cubic Hermite interpolation
``act`` uses. ``V_t`` jumps where a decision becomes affordable
(``W = c_d - I(t)``); each of those boundaries is moved to its exact place. At
``T`` the value is the utility of the best affordable decision. The value at
``W0`` uses exact transitions from the exact post-decision wealth.

``DPSolution.act`` evaluates the optimal decision at any wealth, not only on
the grid: it compares the continuation values of taking and not taking at the
exact post-goal wealth. The continuation value of each portfolio is smooth in
log-wealth (a Gaussian convolution), so it is interpolated by cubic Hermite
from its grid values and exact derivatives; only the portfolios between those
optimal at the two neighbouring grid points are candidates (identical to the
full argmax in tests). Monte Carlo simulation of ``act`` reproduces
``expected_utility`` within noise (tests/test_dp.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from gbwm_sb3.envs.dynamics import ProblemArrays, best_final_decision, problem_arrays
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["DPSolution", "solve_dp", "DEFAULT_GRID_DENSITY"]

#: Grid points per unit of log-wealth (h = 0.02). Refining it 8-fold changes the
#: paper family's optimum by < 0.1% (docs/dp_evaluation.md has the refinement table).
DEFAULT_GRID_DENSITY = 50.0
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _check_range(value: object, name: str, low: float, high: float) -> float:
    """``value`` as a float in ``[low, high]``; ValueError naming ``name`` otherwise."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a real number in [{low}, {high}], got {value!r}"
        ) from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be a real number in [{low}, {high}], got {value!r}")
    return number


def _check_wealth(wealth: object) -> np.ndarray:
    """1-D float64 wealth; ValueError unless every value is finite and >= 0."""
    array = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if array.ndim != 1:
        raise ValueError(f"wealth must be a 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array) & (array >= 0.0)):
        raise ValueError("wealth must contain only finite values >= 0")
    return array


@dataclass(frozen=True)
class _Representation:
    """A value function on the grid plus where its jump boundary sits (if any)."""

    values: np.ndarray  # (G,)
    jump_index: int  # boundary k (between cells k-1 and k) moved to jump_log; -1 if none
    jump_log: float
    extra_jumps: tuple[tuple[int, float], ...] = ()  # more (k, log) boundaries (general class)


@dataclass(frozen=True, eq=False)
class DPSolution:
    """The solved problem: optimal value and policy tables plus a vectorised ``act``.

    Attributes
    ----------
    problem: the problem solved.
    expected_utility: optimal expected total utility at the exact initial wealth.
    wealth_grid: (G,) log-spaced wealth grid.
    value: (T+1, G) optimal value ``V_t(W)`` of pre-goal wealth ``W`` at year ``t``.
    take_policy: (T+1, G) bool, optimal goal decision (False where no goal or unaffordable);
        for the general class: whether the optimal decision takes anything.
    portfolio_policy: (T+1, G) int, optimal 0-based portfolio (row T is 0: no choice).
    continuation: (T, G, n) expected value of ``V_{t+1}`` after holding portfolio ``j``
        from post-goal wealth ``wealth_grid[i]`` at year ``t``.
    """

    problem: GBWMProblem
    expected_utility: float
    wealth_grid: np.ndarray
    value: np.ndarray
    take_policy: np.ndarray
    portfolio_policy: np.ndarray
    continuation: np.ndarray
    continuation_slope: np.ndarray = field(repr=False)
    portfolio_choice: np.ndarray = field(repr=False, default=None)  # (T, G) argmax_j continuation
    grid_density: float = DEFAULT_GRID_DENSITY
    solve_seconds: float = 0.0
    decision_policy: np.ndarray | None = field(repr=False, default=None)  # (T+1, G) general class

    @property
    def general(self) -> bool:
        """Whether the problem is of the general class (``act`` returns decision indices)."""
        return problem_arrays(self.problem).general

    @property
    def log_grid(self) -> np.ndarray:
        """``log(wealth_grid)``."""
        return np.log(self.wealth_grid)

    def _continuation_at(self, t: int, log_wealth: np.ndarray) -> np.ndarray:
        """Continuation value per portfolio at post-goal log-wealth, (N, n), cubic Hermite."""
        x0 = math.log(self.wealth_grid[0])
        h = 1.0 / self.grid_density
        grid_size = self.wealth_grid.shape[0]
        position = np.clip((log_wealth - x0) / h, 0.0, grid_size - 1.0)
        left = np.minimum(position.astype(np.intp), grid_size - 2)
        s = (position - left)[:, None]
        q, dq = self.continuation[t], self.continuation_slope[t]
        q0, q1 = q[left], q[left + 1]
        d0, d1 = dq[left] * h, dq[left + 1] * h
        s2, s3 = s * s, s * s * s
        return ((2 * s3 - 3 * s2 + 1) * q0 + (s3 - 2 * s2 + s) * d0
                + (-2 * s3 + 3 * s2) * q1 + (s3 - s2) * d1)

    def _best_continuation(self, t: int, log_wealth: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Best continuation value and its portfolio at post-goal log-wealth, (N,) each.

        See :func:`_hermite_best`.
        """
        return _hermite_best(self.continuation[t], self.continuation_slope[t],
                             self.portfolio_choice[t], math.log(self.wealth_grid[0]),
                             1.0 / self.grid_density, log_wealth)

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Optimal ``(take, portfolio)`` at year ``t`` for pre-goal wealth (any values, 1-D).

        For the general class ``take`` is the decision index into ``problem.decisions(t)``.
        """
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t <= horizon:
            raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
        wealth = _check_wealth(wealth)
        if self.general:
            decision, portfolio, _ = self._decide(int(t), wealth)
            return decision, portfolio
        cost = self.problem.cost_by_time[t]
        has_goal = bool(self.problem.has_goal[t])
        affordable = (wealth >= cost) if has_goal else np.zeros(wealth.shape, dtype=bool)
        if t == horizon:
            return affordable, np.zeros(wealth.shape, dtype=np.intp)
        with np.errstate(divide="ignore"):
            log_w = np.log(np.maximum(wealth, 0.0))
        keep_value, keep_best = self._best_continuation(t, log_w)
        take = np.zeros(wealth.shape, dtype=bool)
        portfolio = keep_best
        if has_goal and affordable.any():
            idx = np.flatnonzero(affordable)
            with np.errstate(divide="ignore"):
                log_post = np.log(wealth[idx] - cost)
            after_value, after_best = self._best_continuation(t, log_post)
            take_value = self.problem.utility_by_time[t] + after_value
            chosen = take_value >= keep_value[idx]
            take[idx] = chosen
            portfolio = portfolio.copy()
            portfolio[idx[chosen]] = after_best[chosen]
        return take, portfolio.astype(np.intp)

    def _decide(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """General class: best decision, its portfolio and the value, for pre-decision wealth."""
        arrays = problem_arrays(self.problem)
        if t == self.problem.horizon:
            decision = best_final_decision(arrays, wealth)
            return (decision, np.zeros(wealth.shape, dtype=np.intp),
                    arrays.decision_utility[t][decision])
        return _best_decisions(arrays, t, wealth, lambda x: self._best_continuation(t, x))

    def portfolio_given(self, t: int, post_goal_wealth: np.ndarray) -> np.ndarray:
        """Optimal portfolio at year ``t`` < T once the goal decision is made (any decision).

        Hybrid strategies use it: after another policy's goal decision, this is
        the best portfolio for the wealth actually left.
        """
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < horizon:
            raise ValueError(f"t must be an integer in 0..{horizon - 1}, got {t!r}")
        wealth = _check_wealth(post_goal_wealth)
        with np.errstate(divide="ignore"):
            log_w = np.log(np.maximum(wealth, 0.0))
        return self._best_continuation(t, log_w)[1].astype(np.intp)

    def value_at(self, t: int, wealth: np.ndarray) -> np.ndarray:
        """Optimal value at year ``t`` < T for any pre-goal wealth (interpolated continuation)."""
        if self.general:
            horizon = self.problem.horizon
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) \
                    or not 0 <= t <= horizon:
                raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
            return self._decide(int(t), _check_wealth(wealth))[2]
        take, portfolio = self.act(t, wealth)
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        post = np.where(take, wealth - self.problem.cost_by_time[t], wealth)
        with np.errstate(divide="ignore"):
            cont, _ = self._best_continuation(t, np.log(np.maximum(post, 0.0)))
        return cont + take * self.problem.utility_by_time[t]


def _hermite_best(q: np.ndarray, dq: np.ndarray, choice: np.ndarray, x0: float, h: float,
                  log_wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best continuation value and its portfolio at post-goal log-wealth, (N,) each.

    Candidates are the portfolios from the one optimal at the grid point on
    the left to the one optimal on the right (portfolios are ordered along
    the frontier, and the optimal one moves through them as wealth moves);
    each is evaluated by cubic Hermite interpolation of ``q`` (G, n) with slopes
    ``dq`` and the best is kept. Where both grid points agree (almost everywhere)
    only one is evaluated.
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
        value = hermite(rows, candidate)
        better = value > best_value[rows]
        best_value[rows[better]] = value[better]
        best_portfolio[rows[better]] = candidate[better]
    return best_value, best_portfolio


class _Kernels:
    """Per-portfolio transition kernels on the uniform log grid."""

    def __init__(self, log_drifts: np.ndarray, sigmas: np.ndarray, h: float,
                 tail_sigmas: float) -> None:
        self.log_drifts = log_drifts
        self.sigmas = sigmas
        self.h = h
        reach = tail_sigmas * sigmas + np.abs(log_drifts)
        self.half_widths = np.ceil(reach / h).astype(int) + 1
        self.pad = int(2 * self.half_widths.max() + 2)
        self.cell_kernels = []  # probability of landing in cell i + d, d = -L..L (reversed)
        self.slope_kernels = []  # density at boundary i + d - 1/2 (for the derivative)
        for m, s, half in zip(log_drifts, sigmas, self.half_widths, strict=True):
            d = np.arange(-half, half + 1, dtype=np.float64)
            upper = ndtr(((d + 0.5) * h - m) / s)
            lower = ndtr(((d - 0.5) * h - m) / s)
            self.cell_kernels.append((upper - lower)[::-1].copy())
            z = ((d - 0.5) * h - m) / s
            self.slope_kernels.append((np.exp(-0.5 * z * z) / (_SQRT_2PI * s))[::-1].copy())


def _on_grid(rep: _Representation, kernels: _Kernels, log_grid: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Continuation value and its log-wealth derivative from every grid point, (G, n) each."""
    values = rep.values
    grid_size = values.shape[0]
    n = kernels.sigmas.shape[0]
    q = np.empty((grid_size, n))
    dq = np.empty((grid_size, n))
    jumps = np.zeros(grid_size + 1)
    jumps[1:grid_size] = np.diff(values)  # D_k at boundary k (between cells k-1 and k)
    for j in range(n):
        half = kernels.half_widths[j]
        padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
        q[:, j] = np.convolve(padded, kernels.cell_kernels[j], mode="valid")
        padded_jumps = np.concatenate([np.zeros(half), jumps[:grid_size], np.zeros(half)])
        # slope at x_i: sum_k D_k phi((x_i + m - b_k)/s)/s with b_k = x_i - (i - k + 1/2) h
        dq[:, j] = np.convolve(padded_jumps, kernels.slope_kernels[j], mode="valid")
    if rep.jump_index > 0:
        _moved_boundary_correction(rep, kernels, log_grid, q, dq, log_grid[0])
    for k, jump_log in rep.extra_jumps:
        _moved_boundary_correction(_Representation(values, k, jump_log), kernels, log_grid,
                                   q, dq, log_grid[0])
    return q, dq


def _moved_boundary_correction(rep: _Representation, kernels: _Kernels, sources: np.ndarray,
                               q: np.ndarray, dq: np.ndarray | None, x0: float) -> None:
    """Shift the boundary between cells k-1 and k from the midpoint to ``jump_log`` (in place)."""
    k = rep.jump_index
    jump = rep.values[k] - rep.values[k - 1]
    midpoint = x0 + (k - 0.5) * kernels.h
    mean = sources[:, None] + kernels.log_drifts[None, :]
    s = kernels.sigmas[None, :]
    z_new = (mean - rep.jump_log) / s
    z_mid = (mean - midpoint) / s
    q += jump * (ndtr(z_new) - ndtr(z_mid))
    if dq is not None:
        dq += jump * (np.exp(-0.5 * z_new**2) - np.exp(-0.5 * z_mid**2)) / (_SQRT_2PI * s)


def _off_grid(rep: _Representation, kernels: _Kernels, x0: float, sources: np.ndarray
              ) -> np.ndarray:
    """Continuation value from arbitrary post-goal log-wealth ``sources``, (S, n), exact."""
    values = rep.values
    grid_size = values.shape[0]
    pad = kernels.pad
    padded = np.concatenate([np.full(pad, values[0]), values, np.full(pad, values[-1])])
    h = kernels.h
    out = np.empty((sources.shape[0], kernels.sigmas.shape[0]))
    for j, (m, s, half) in enumerate(zip(kernels.log_drifts, kernels.sigmas,
                                         kernels.half_widths, strict=True)):
        # clamp far outside the grid, where the value is the (constant) end cell's
        lo = x0 - (pad - half - 1) * h
        hi = x0 + (grid_size - 1 + pad - half - 1) * h
        mean = np.clip(sources + m, lo, hi)
        centre = np.rint((mean - x0) / h).astype(np.intp) + pad  # padded cell index
        offsets = np.arange(-half, half + 2)  # boundary offsets
        cells = centre[:, None] + offsets[None, :-1]
        # boundary below cell c is at x0 + (c - pad - 1/2) h
        bounds = x0 + (centre[:, None] + offsets[None, :] - pad - 0.5) * h
        cdf = ndtr((bounds - mean[:, None]) / s)
        prob = np.diff(cdf, axis=1)
        out[:, j] = np.einsum("ij,ij->i", prob, padded[cells])
        # mass beyond the window lies in constant regions at this point's scale
        out[:, j] += cdf[:, 0] * padded[cells[:, 0]] + (1.0 - cdf[:, -1]) * padded[cells[:, -1]]
    if rep.jump_index > 0:
        _moved_boundary_correction(rep, kernels, sources, out, None, x0)
    for k, jump_log in rep.extra_jumps:
        _moved_boundary_correction(_Representation(values, k, jump_log), kernels, sources,
                                   out, None, x0)
    return out


def _grid_bounds(problem: GBWMProblem, wealth_floor: float, upper_sigmas: float
                 ) -> tuple[float, float]:
    """Log-wealth range of the grid (see the module docstring)."""
    costs = np.asarray([g.cost for g in problem.goals if g.cost > 0.0])
    w0 = problem.initial_wealth
    low = wealth_floor * (min(w0, float(costs.min())) if costs.size else w0)
    high_base = max(w0, float(costs.max())) if costs.size else w0
    portfolios = problem.portfolios
    growth = max(0.0, float(portfolios.log_drifts.max())) * problem.horizon
    growth += upper_sigmas * float(portfolios.volatility_array.max()) * math.sqrt(problem.horizon)
    return math.log(low), math.log(high_base) + growth


def _jump_index(log_grid: np.ndarray, log_cost: float) -> int:
    """Boundary index k (cells k-1 | k) that brackets ``log_cost``; -1 if outside the grid."""
    k = int(np.searchsorted(log_grid, log_cost, side="left"))
    return k if 0 < k < log_grid.shape[0] else -1


def solve_dp(problem: GBWMProblem, *, grid_density: float = DEFAULT_GRID_DENSITY,
             grid_points: int | None = None, wealth_floor: float = 1e-2,
             upper_sigmas: float = 5.0, tail_sigmas: float = 7.0) -> DPSolution:
    """Solve ``problem`` exactly (up to the grid) by backward Bellman recursion.

    Parameters
    ----------
    grid_density: grid points per unit of log-wealth (default 50, i.e. 2% steps).
    grid_points: if given, the total number of grid points (overrides ``grid_density``).
    wealth_floor: bottom of the grid as a fraction of min(W0, cheapest goal cost).
    upper_sigmas: top of the grid in standard deviations of log-wealth over the horizon.
    tail_sigmas: transition probabilities are computed within +-``tail_sigmas`` sigma.
    """
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    if problem.horizon > 100:
        raise ValueError(f"problem.horizon must be in 1..100 for the DP solver, got "
                         f"{problem.horizon}")
    wealth_floor = _check_range(wealth_floor, "wealth_floor", 1e-8, 0.5)
    upper_sigmas = _check_range(upper_sigmas, "upper_sigmas", 1.0, 20.0)
    tail_sigmas = _check_range(tail_sigmas, "tail_sigmas", 3.0, 12.0)
    start = time.perf_counter()
    if problem_arrays(problem).general:
        return _solve_general(problem, grid_density, grid_points, wealth_floor, upper_sigmas,
                              tail_sigmas, start)
    x_low, x_high = _grid_bounds(problem, wealth_floor, upper_sigmas)
    grid_density, grid_size, h, log_grid, wealth_grid = _log_wealth_grid(
        x_low, x_high, grid_density, grid_points)
    horizon = problem.horizon
    costs, utilities, has_goal = problem.cost_by_time, problem.utility_by_time, problem.has_goal
    portfolios = problem.portfolios
    kernels = _Kernels(portfolios.log_drifts, portfolios.volatility_array, h, tail_sigmas)
    n = problem.num_portfolios

    value = np.zeros((horizon + 1, grid_size))
    take_policy = np.zeros((horizon + 1, grid_size), dtype=bool)
    portfolio_policy = np.zeros((horizon + 1, grid_size), dtype=np.intp)
    continuation = np.empty((horizon, grid_size, n))
    continuation_slope = np.empty((horizon, grid_size, n))

    def representation(t: int) -> _Representation:
        if has_goal[t] and costs[t] > 0.0:
            k = _jump_index(log_grid, math.log(costs[t]))
            return _Representation(value[t], k, math.log(costs[t]))
        return _Representation(value[t], -1, 0.0)

    if has_goal[horizon]:
        take_policy[horizon] = wealth_grid >= costs[horizon]
        value[horizon] = utilities[horizon] * take_policy[horizon]
    rows = np.arange(grid_size)
    for t in range(horizon - 1, -1, -1):
        rep = representation(t + 1)
        q, dq = _on_grid(rep, kernels, log_grid)
        continuation[t], continuation_slope[t] = q, dq
        keep_best = q.argmax(axis=1)
        v = q[rows, keep_best]
        portfolio = keep_best
        take = np.zeros(grid_size, dtype=bool)
        if has_goal[t]:
            idx = np.flatnonzero(wealth_grid >= costs[t])
            if idx.size:
                if costs[t] > 0.0:
                    after = _off_grid(rep, kernels, x_low, np.log(wealth_grid[idx] - costs[t]))
                else:
                    after = q[idx]
                after_best = after.argmax(axis=1)
                take_value = utilities[t] + after[np.arange(idx.size), after_best]
                chosen = take_value >= v[idx]
                take[idx] = chosen
                v = v.copy()
                v[idx] = np.where(chosen, take_value, v[idx])
                portfolio[idx[chosen]] = after_best[chosen]
        value[t], take_policy[t], portfolio_policy[t] = v, take, portfolio

    expected = _value_at_initial_wealth(problem, representation(1) if horizon >= 1 else None,
                                        kernels, x_low)
    for table in (wealth_grid, value, take_policy, portfolio_policy, continuation,
                  continuation_slope):
        table.setflags(write=False)
    return DPSolution(
        problem=problem,
        expected_utility=expected,
        wealth_grid=wealth_grid,
        value=value,
        take_policy=take_policy,
        portfolio_policy=portfolio_policy,
        continuation=continuation,
        continuation_slope=continuation_slope,
        portfolio_choice=continuation.argmax(axis=2),
        grid_density=float(grid_density),
        solve_seconds=time.perf_counter() - start,
    )


def _value_at_initial_wealth(problem: GBWMProblem, rep: _Representation, kernels: _Kernels,
                             x0: float) -> float:
    """Optimal value at the exact W0 (transitions from the exact wealth, no interpolation)."""
    w0 = problem.initial_wealth
    cost, utility = problem.cost_by_time[0], problem.utility_by_time[0]
    sources = [math.log(w0)]
    if problem.has_goal[0] and w0 >= cost:
        sources.append(math.log(w0 - cost) if w0 > cost else -np.inf)
    finite = np.array([max(s, x0 - 1e3) for s in sources])
    cont = _off_grid(rep, kernels, x0, finite).max(axis=1)
    best = float(cont[0])
    if len(sources) == 2:
        best = max(best, float(utility + cont[1]))
    return best


def _best_decisions(arrays: ProblemArrays, t: int, wealth: np.ndarray, continuation
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best decision at ``t`` < T, its portfolio and value; ``continuation(log_wealth)``
    gives (value, portfolio) after the decision. Ties go to the later decision."""
    cash = wealth + arrays.infusions[t]
    best_value = np.full(wealth.shape, -np.inf)
    best_decision = np.zeros(wealth.shape, dtype=np.intp)
    best_portfolio = np.zeros(wealth.shape, dtype=np.intp)
    for d in range(int(arrays.decisions_per_year[t])):
        cost = arrays.decision_cost[t, d]
        idx = np.flatnonzero(cash >= cost) if d else np.arange(wealth.shape[0])
        if idx.size == 0:
            continue
        with np.errstate(divide="ignore"):
            log_post = np.log(np.maximum(cash[idx] - cost, 0.0))
        value, portfolio = continuation(log_post)
        value = value + arrays.decision_utility[t, d]
        better = value >= best_value[idx]
        chosen = idx[better]
        best_value[chosen] = value[better]
        best_decision[chosen] = d
        best_portfolio[chosen] = portfolio[better]
    return best_decision, best_portfolio, best_value


def _general_grid_bounds(problem: GBWMProblem, arrays: ProblemArrays, wealth_floor: float,
                         upper_sigmas: float) -> tuple[float, float]:
    """Log-wealth range of the grid for the general class (infusions and decision costs)."""
    costs = arrays.decision_cost[np.isfinite(arrays.decision_cost)]
    costs = costs[costs > 0.0]
    w0 = problem.initial_wealth
    low = wealth_floor * (min(w0, float(costs.min())) if costs.size else w0)
    high_base = max(w0 + float(arrays.infusions.sum()), float(costs.max()) if costs.size else w0)
    portfolios = problem.portfolios
    growth = max(0.0, float(portfolios.log_drifts.max())) * problem.horizon
    growth += upper_sigmas * float(portfolios.volatility_array.max()) * math.sqrt(problem.horizon)
    return math.log(low), math.log(high_base) + growth


def _general_jumps(arrays: ProblemArrays, t: int, log_grid: np.ndarray
                   ) -> tuple[tuple[int, float], ...]:
    """Boundaries where ``V_t`` may jump (a decision becomes affordable), one per cell."""
    thresholds = arrays.decision_cost[t][1:int(arrays.decisions_per_year[t])]
    thresholds = np.unique(thresholds - arrays.infusions[t])
    jumps: dict[int, float] = {}
    for threshold in thresholds[thresholds > 0.0]:
        k = _jump_index(log_grid, math.log(threshold))
        if k > 0 and k not in jumps:
            jumps[k] = math.log(threshold)
    return tuple(sorted(jumps.items()))


def _log_wealth_grid(x_low: float, x_high: float, grid_density: float,
                     grid_points: int | None) -> tuple[float, int, float, np.ndarray, np.ndarray]:
    """The evenly spaced log-wealth grid over [x_low, ...]: ``grid_points`` points, else
    ``grid_density`` points per unit of log-wealth (validated; at most 200,000 points).

    Returns (density, size, spacing h, log-wealth grid, wealth grid).
    """
    if grid_points is not None:
        if isinstance(grid_points, bool) or not isinstance(grid_points, (int, np.integer)) \
                or not 10 <= grid_points <= 200_000:
            raise ValueError(f"grid_points must be an integer in [10, 200000], got "
                             f"{grid_points!r}")
        grid_size = int(grid_points)
        grid_density = (grid_size - 1) / (x_high - x_low)
    else:
        grid_density = _check_range(grid_density, "grid_density", 2.0, 10_000.0)
        grid_size = int(math.ceil((x_high - x_low) * grid_density)) + 1
        if grid_size > 200_000:
            raise ValueError(f"grid_density too large: {grid_size} grid points (max 200000); "
                             f"got grid_density={grid_density}")
    h = 1.0 / grid_density
    log_grid = x_low + h * np.arange(grid_size)
    return grid_density, grid_size, h, log_grid, np.exp(log_grid)


def _solve_general(problem: GBWMProblem, grid_density: float, grid_points: int | None,
                   wealth_floor: float, upper_sigmas: float, tail_sigmas: float,
                   start: float) -> DPSolution:
    """``solve_dp`` for the general class (see the module docstring)."""
    arrays = problem_arrays(problem)
    x_low, x_high = _general_grid_bounds(problem, arrays, wealth_floor, upper_sigmas)
    grid_density, grid_size, h, log_grid, wealth_grid = _log_wealth_grid(
        x_low, x_high, grid_density, grid_points)
    horizon = problem.horizon
    portfolios = problem.portfolios
    kernels = _Kernels(portfolios.log_drifts, portfolios.volatility_array, h, tail_sigmas)
    n = problem.num_portfolios

    value = np.zeros((horizon + 1, grid_size))
    decision_policy = np.zeros((horizon + 1, grid_size), dtype=np.intp)
    portfolio_policy = np.zeros((horizon + 1, grid_size), dtype=np.intp)
    continuation = np.empty((horizon, grid_size, n))
    continuation_slope = np.empty((horizon, grid_size, n))
    choice = np.empty((horizon, grid_size), dtype=np.intp)

    def representation(t: int) -> _Representation:
        return _Representation(value[t], -1, 0.0, _general_jumps(arrays, t, log_grid))

    decision_policy[horizon] = best_final_decision(arrays, wealth_grid)
    value[horizon] = arrays.decision_utility[horizon][decision_policy[horizon]]
    for t in range(horizon - 1, -1, -1):
        q, dq = _on_grid(representation(t + 1), kernels, log_grid)
        continuation[t], continuation_slope[t] = q, dq
        choice[t] = q.argmax(axis=1)
        decision, portfolio, v = _best_decisions(
            arrays, t, wealth_grid,
            lambda x, t=t: _hermite_best(continuation[t], continuation_slope[t], choice[t],
                                         x_low, h, x))
        value[t], decision_policy[t], portfolio_policy[t] = v, decision, portfolio

    expected = _general_value_at_initial_wealth(problem, arrays, representation(1), kernels,
                                                x_low)
    take_policy = decision_policy > 0
    for table in (wealth_grid, value, take_policy, portfolio_policy, continuation,
                  continuation_slope, decision_policy, choice):
        table.setflags(write=False)
    return DPSolution(
        problem=problem,
        expected_utility=expected,
        wealth_grid=wealth_grid,
        value=value,
        take_policy=take_policy,
        portfolio_policy=portfolio_policy,
        continuation=continuation,
        continuation_slope=continuation_slope,
        portfolio_choice=choice,
        grid_density=float(grid_density),
        solve_seconds=time.perf_counter() - start,
        decision_policy=decision_policy,
    )


def _general_value_at_initial_wealth(problem: GBWMProblem, arrays: ProblemArrays,
                                     rep: _Representation, kernels: _Kernels, x0: float) -> float:
    """Optimal value at the exact W0: exact transitions from each decision's exact cash."""
    cash = problem.initial_wealth + arrays.infusions[0]
    best = -np.inf
    for d in range(int(arrays.decisions_per_year[0])):
        cost = arrays.decision_cost[0, d]
        if cost > cash:
            continue
        source = math.log(cash - cost) if cash > cost else x0 - 1e3
        cont = float(_off_grid(rep, kernels, x0, np.array([max(source, x0 - 1e3)])).max())
        best = max(best, float(arrays.decision_utility[0, d]) + cont)
    return best
