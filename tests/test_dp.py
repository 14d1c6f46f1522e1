"""The DP solver: brute force on tiny problems, Monte Carlo, monotonicity, scaling, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

from gbwm_sb3 import GBWMProblem, Goal, Portfolios, paper_problem
from gbwm_sb3.dp import DEFAULT_GRID_DENSITY, DPSolution, solve_dp
from gbwm_sb3.envs.dynamics import problem_table, step_year
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.evaluation.strategies import BuyAndHold, GreedyGoals, Hybrid, RandomPolicy

# ---------------------------------------------------------------- brute force


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(1500)
_Z_LIMIT = 10.0


def brute_force_value(problem: GBWMProblem, wealth, t: int = 0) -> np.ndarray:
    """Optimal expected utility from year ``t`` by recursive numerical integration.

    Independent of the solver: every decision (take or not, which portfolio)
    is optimised at the exact wealth. The last year's expectation over the
    normal draw is closed form; the outermost one is adaptive quadrature
    (scipy ``quad``, which resolves the kinks where decisions switch); any in
    between is a 1500-node Gauss-Legendre rule on [-10, 10], vectorised over
    wealth. Every integral is split at the draw where next year's goal
    becomes affordable (the value jumps there).
    """
    horizon = problem.horizon
    costs, utilities, has_goal = problem.cost_by_time, problem.utility_by_time, problem.has_goal
    drifts = problem.portfolios.log_drifts
    sigmas = problem.portfolios.volatility_array

    def value(s: int, w: np.ndarray, adaptive: bool) -> np.ndarray:
        if s == horizon:
            return np.where(w >= costs[s], utilities[s], 0.0) if has_goal[s] else np.zeros_like(w)
        best = np.zeros_like(w)
        options = [(0.0, w, np.ones(w.shape, dtype=bool))]
        if has_goal[s]:
            affordable = w >= costs[s]
            options.append((utilities[s], np.where(affordable, w - costs[s], 0.0), affordable))
        for reward, post, allowed in options:
            for m, sig in zip(drifts, sigmas, strict=True):
                total = reward + expected_next(s, post, m, sig, adaptive)
                best = np.where(allowed, np.maximum(best, total), best)
        return best

    def split_point(s: int, post: np.ndarray, m: float, sig: float) -> np.ndarray:
        safe = np.maximum(post, 1e-300)
        if has_goal[s + 1] and costs[s + 1] > 0.0:
            return np.clip((np.log(costs[s + 1] / safe) - m) / sig, -_Z_LIMIT, _Z_LIMIT)
        return np.zeros_like(post)

    def expected_next(s: int, post: np.ndarray, m: float, sig: float,
                      adaptive: bool) -> np.ndarray:
        if s + 1 == horizon:
            if not has_goal[horizon]:
                return np.zeros_like(post)
            safe = np.maximum(post, 1e-300)
            out = utilities[horizon] * ndtr((np.log(safe / costs[horizon]) + m) / sig)
            return np.where(post > 0.0, out, 0.0)
        split = split_point(s, post, m, sig)
        if adaptive:
            out = np.empty_like(post)
            for i, (p, z_split) in enumerate(zip(post.ravel(), split.ravel(), strict=True)):
                def integrand(z: float, p: float = p) -> float:
                    nxt = value(s + 1, np.array([p * math.exp(m + sig * z)]), False)[0]
                    return float(nxt) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

                out.flat[i] = sum(
                    integrate.quad(integrand, lo, hi, limit=100, epsabs=1e-8, epsrel=1e-8)[0]
                    for lo, hi in ((-_Z_LIMIT, z_split), (z_split, _Z_LIMIT)) if hi > lo
                )
            return out
        total = np.zeros_like(post)
        for lo, hi in ((np.full_like(split, -_Z_LIMIT), split),
                       (split, np.full_like(split, _Z_LIMIT))):
            half = 0.5 * (hi - lo)
            z = (lo + hi)[..., None] * 0.5 + half[..., None] * _NODES
            density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
            nxt = value(s + 1, post[..., None] * np.exp(m + sig * z), False)
            total += half * np.sum(_WEIGHTS * density * nxt, axis=-1)
        return total

    return value(t, np.atleast_1d(np.asarray(wealth, dtype=np.float64)), True)


def tiny_two_year() -> GBWMProblem:
    return GBWMProblem(
        horizon=2,
        initial_wealth=10.0,
        goals=(Goal(time=1, cost=5.0, utility=3.0), Goal(time=2, cost=6.5, utility=5.0)),
        portfolios=Portfolios(means=[0.03, 0.09], volatilities=[0.04, 0.25]),
    )


def tiny_three_year() -> GBWMProblem:
    return GBWMProblem(
        horizon=3,
        initial_wealth=12.0,
        goals=(Goal(time=1, cost=4.0, utility=2.0), Goal(time=2, cost=5.0, utility=3.0),
               Goal(time=3, cost=6.0, utility=4.0)),
        portfolios=Portfolios(means=[0.02, 0.06, 0.10], volatilities=[0.03, 0.12, 0.30]),
    )


def tiny_three_year_two_portfolios() -> GBWMProblem:
    return GBWMProblem(
        horizon=3,
        initial_wealth=12.0,
        goals=(Goal(time=1, cost=4.0, utility=2.0), Goal(time=3, cost=9.0, utility=4.0)),
        portfolios=Portfolios(means=[0.03, 0.08], volatilities=[0.05, 0.2]),
    )


@pytest.mark.parametrize("make", [
    tiny_two_year,
    tiny_three_year_two_portfolios,
    pytest.param(tiny_three_year, marks=pytest.mark.slow),
])
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_dp_matches_brute_force(make):
    problem = make()
    exact = float(brute_force_value(problem, problem.initial_wealth)[0])
    assert 0.0 < exact < problem.total_utility
    default = solve_dp(problem)
    fine = solve_dp(problem, grid_density=400)
    assert default.expected_utility == pytest.approx(exact, rel=2e-3)
    assert fine.expected_utility == pytest.approx(exact, rel=2e-4)
    # refining the grid moves DP towards the exact answer
    assert abs(fine.expected_utility - exact) < abs(default.expected_utility - exact) + 1e-9


def test_dp_brute_force_with_goal_at_time_zero():
    problem = GBWMProblem(
        horizon=2,
        initial_wealth=9.0,
        goals=(Goal(time=0, cost=3.0, utility=2.0), Goal(time=2, cost=6.0, utility=5.0)),
        portfolios=Portfolios(means=[0.04, 0.08], volatilities=[0.05, 0.2]),
    )
    exact = float(brute_force_value(problem, problem.initial_wealth)[0])
    assert solve_dp(problem, grid_density=400).expected_utility == pytest.approx(exact, rel=2e-4)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_act_values_match_brute_force_off_grid():
    """The value of act's decision at off-grid wealth equals the brute-force optimum."""
    problem = tiny_three_year()
    solution = solve_dp(problem, grid_density=200)
    wealth = np.array([3.7, 4.01, 6.3, 9.87, 15.2])
    got = solution.value_at(1, wealth)
    want = brute_force_value(problem, wealth, t=1)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


# ---------------------------------------------------------------- paper family


@pytest.fixture(scope="module")
def paper4() -> DPSolution:
    return solve_dp(paper_problem(4))


@pytest.mark.parametrize("num_goals,paper_value", [(1, 18.6), (2, 35.0), (4, 64.9)])
def test_paper_optimum_within_tolerance(num_goals, paper_value):
    value = solve_dp(paper_problem(num_goals)).expected_utility
    assert value == pytest.approx(paper_value, rel=3e-3)


@pytest.mark.slow
@pytest.mark.parametrize("num_goals,paper_value", [(8, 120.8), (16, 225.9)])
def test_paper_optimum_many_goals(num_goals, paper_value):
    value = solve_dp(paper_problem(num_goals)).expected_utility
    assert value == pytest.approx(paper_value, rel=3e-3)


@pytest.mark.parametrize("num_goals", [1, 4])
def test_default_grid_is_converged(num_goals):
    """Quadrupling the grid density changes the optimum by well under 0.2%."""
    problem = paper_problem(num_goals)
    default = solve_dp(problem).expected_utility
    fine = solve_dp(problem, grid_density=4 * DEFAULT_GRID_DENSITY).expected_utility
    assert abs(default - fine) / fine < 2e-3


def test_dp_value_matches_monte_carlo_of_its_policy(paper4):
    report = evaluate({"DP": paper4}, paper4.problem, n_paths=100_000, seed=11)
    result = report["DP"]
    assert abs(result.mean_utility - paper4.expected_utility) < 3 * result.std_error


@pytest.mark.slow
@pytest.mark.parametrize("num_goals", [1, 2, 8, 16])
def test_dp_value_matches_monte_carlo_many_paths(num_goals):
    solution = solve_dp(paper_problem(num_goals), grid_density=100)
    result = evaluate({"DP": solution}, solution.problem, n_paths=1_000_000, seed=3)["DP"]
    assert abs(result.mean_utility - solution.expected_utility) < 3 * result.std_error


def test_dp_beats_benchmarks_on_common_draws(paper4):
    problem = paper4.problem
    policies = {
        "DP": paper4,
        "greedy": GreedyGoals(paper4),
        "buy-and-hold": BuyAndHold(seed=1),
        "random": RandomPolicy(problem, seed=2),
        "DP goals, portfolio #1": Hybrid(paper4, BuyAndHold(portfolio=0)),
    }
    report = evaluate(policies, problem, n_paths=30_000, seed=5)
    for name, result in report.results.items():
        if name == "DP":
            continue
        assert result.difference_mean < 3 * result.difference_std_error, name
        assert result.efficiency < 1.0 + 3 * result.difference_std_error / paper4.expected_utility


def test_value_monotone_in_initial_wealth_and_bounded():
    base = paper_problem(2)
    values = []
    for factor in (0.25, 0.5, 0.9, 1.0, 1.1, 2.0, 8.0):
        problem = GBWMProblem(horizon=base.horizon, initial_wealth=base.initial_wealth * factor,
                              goals=base.goals, portfolios=base.portfolios)
        values.append(solve_dp(problem).expected_utility)
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:], strict=False))
    assert values[-1] <= base.total_utility + 1e-9
    assert values[0] >= 0.0


def test_value_table_shape_monotone_and_bounded(paper4):
    problem = paper4.problem
    grid_size = paper4.wealth_grid.size
    assert paper4.value.shape == (problem.horizon + 1, grid_size)
    assert paper4.take_policy.shape == paper4.value.shape
    assert paper4.portfolio_policy.shape == paper4.value.shape
    assert paper4.continuation.shape == (problem.horizon, grid_size, problem.num_portfolios)
    assert np.all(np.diff(np.log(paper4.wealth_grid)) > 0)
    np.testing.assert_allclose(np.diff(np.log(paper4.wealth_grid)), 1 / paper4.grid_density)
    assert np.all(np.diff(paper4.value, axis=1) >= -1e-9)  # more wealth never hurts
    remaining = np.cumsum(problem.utility_by_time[::-1])[::-1]
    assert np.all(paper4.value <= remaining[:, None] + 1e-9)
    assert np.all(paper4.value >= 0.0)
    # the grid covers the goal costs and W0
    assert paper4.wealth_grid[0] < min(problem.initial_wealth, min(problem.cost_by_time[4::4]))
    assert paper4.wealth_grid[-1] > problem.initial_wealth * 10
    # takes only where affordable and a goal sits
    affordable = paper4.wealth_grid[None, :] >= problem.cost_by_time[:, None]
    assert not np.any(paper4.take_policy & ~(affordable & problem.has_goal[:, None]))
    assert np.all(paper4.take_policy[problem.horizon] == affordable[problem.horizon])


def test_scale_invariance(paper4):
    scaled = solve_dp(paper4.problem.scaled(1e4))
    assert scaled.expected_utility == pytest.approx(paper4.expected_utility, rel=1e-9)
    np.testing.assert_allclose(scaled.wealth_grid / 1e4, paper4.wealth_grid, rtol=1e-9)
    wealth = paper4.problem.initial_wealth * np.exp(np.linspace(-1.5, 1.5, 301))
    for t in (0, 4, 9, 12, 15):
        take, port = paper4.act(t, wealth)
        take_s, port_s = scaled.act(t, wealth * 1e4)
        assert np.mean(take == take_s) > 0.99
        assert np.mean(port == port_s) > 0.99


def test_act_agrees_with_tables_on_grid(paper4):
    problem = paper4.problem
    for t in (0, 4, 8, 10, 12):
        take, port = paper4.act(t, paper4.wealth_grid)
        assert take.dtype == bool and np.issubdtype(port.dtype, np.integer)
        np.testing.assert_array_equal(take, paper4.take_policy[t])
        # where the portfolios differ it is an exact tie (e.g. every goal already secured)
        post = paper4.wealth_grid - take * problem.cost_by_time[t]
        with np.errstate(divide="ignore"):
            q = paper4._continuation_at(t, np.log(post))
        rows = np.arange(post.size)
        np.testing.assert_allclose(q[rows, port], q[rows, paper4.portfolio_policy[t]], atol=1e-6)
    take, port = paper4.act(problem.horizon, np.array([1.0, 1e3]))
    np.testing.assert_array_equal(take, [False, True])


def test_act_handles_any_wealth(paper4):
    wealth = np.array([0.0, 1e-12, 0.5, 20.0, 1e6, 1e12])
    for t in range(paper4.problem.horizon):
        take, port = paper4.act(t, wealth)
        assert take.shape == wealth.shape == port.shape
        assert np.all((port >= 0) & (port < paper4.problem.num_portfolios))
        assert not np.any(take & (wealth < paper4.problem.cost_by_time[t]))
    # huge wealth: every goal is taken
    assert paper4.act(4, np.array([1e12]))[0][0]


def test_best_continuation_matches_full_argmax(paper4):
    rng = np.random.default_rng(0)
    log_w = np.log(paper4.problem.initial_wealth) + rng.normal(0.0, 1.0, 20_000)
    for t in (3, 7, 11, 14):
        full = paper4._continuation_at(t, log_w).max(axis=1)
        best, _ = paper4._best_continuation(t, log_w)
        np.testing.assert_allclose(best, full, atol=1e-9)


def test_off_grid_transitions_match_on_grid_convolution():
    """The exact off-grid transition reproduces the on-grid convolution at grid points."""
    from gbwm_sb3.dp import jumps, transitions

    problem = paper_problem(4)
    solution = solve_dp(problem)
    log_grid = np.log(solution.wealth_grid)
    h = 1.0 / solution.grid_density
    kernels = transitions.Kernels(problem.portfolios.log_drifts,
                                  problem.portfolios.volatility_array, h, 7.0)
    t = 7
    k = jumps.jump_index(log_grid, math.log(problem.cost_by_time[t + 1]))
    rep = transitions.Representation(solution.value[t + 1],
                                     ((k, math.log(problem.cost_by_time[t + 1])),))
    on_grid, _ = transitions.on_grid(rep, kernels, log_grid)
    sample = np.arange(0, log_grid.size, 7)
    off_grid = transitions.off_grid(rep, kernels, log_grid[0], log_grid[sample])
    np.testing.assert_allclose(off_grid, on_grid[sample], atol=1e-8)
    np.testing.assert_allclose(on_grid, solution.continuation[t], atol=1e-12)


def test_monte_carlo_by_hand_matches_expected_utility_small_problem():
    """Simulating act with step_year directly (no evaluator) on a tiny problem."""
    problem = tiny_three_year()
    solution = solve_dp(problem)
    table = problem_table(problem)
    rng = np.random.default_rng(123)
    n = 200_000
    wealth = np.full(n, problem.initial_wealth)
    total = np.zeros(n)
    for t in range(problem.horizon):
        take, port = solution.act(t, wealth)
        wealth, reward, _, _ = step_year(table, t, wealth, take, port, rng.standard_normal(n))
        total += reward
    se = total.std() / math.sqrt(n)
    assert abs(total.mean() - solution.expected_utility) < 3 * se


def test_zero_cost_goal_and_unreachable_goal():
    problem = GBWMProblem(
        horizon=3, initial_wealth=5.0,
        goals=(Goal(time=1, cost=0.0, utility=1.0), Goal(time=3, cost=1e6, utility=7.0)),
        portfolios=Portfolios(means=[0.03, 0.06], volatilities=[0.05, 0.15]),
    )
    solution = solve_dp(problem)
    assert solution.expected_utility == pytest.approx(1.0, abs=1e-6)
    assert solution.act(1, np.array([0.0, 3.0]))[0].all()


def test_long_horizon_solves():
    goals = tuple(Goal(time=t, cost=10.0 * 1.03**t, utility=5.0) for t in range(10, 101, 10))
    problem = GBWMProblem(horizon=100, initial_wealth=40.0, goals=goals)
    solution = solve_dp(problem)
    assert 0.0 < solution.expected_utility < problem.total_utility
    assert solution.value.shape[0] == 101


def test_solve_is_fast_for_paper_problem():
    solve_dp(paper_problem(16))  # warm up
    solution = solve_dp(paper_problem(16))
    assert solution.solve_seconds < 3.0  # ~0.2 s on an idle 2-core machine; loose under load


@pytest.mark.parametrize("kwargs,field", [
    ({"grid_density": 0}, "grid_density"),
    ({"grid_density": float("nan")}, "grid_density"),
    ({"grid_density": "dense"}, "grid_density"),
    ({"grid_points": 3}, "grid_points"),
    ({"grid_points": 100.5}, "grid_points"),
    ({"wealth_floor": 0.0}, "wealth_floor"),
    ({"wealth_floor": 2.0}, "wealth_floor"),
    ({"upper_sigmas": 0.1}, "upper_sigmas"),
    ({"tail_sigmas": 1.0}, "tail_sigmas"),
])
def test_validation_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        solve_dp(paper_problem(1), **kwargs)


def test_validation_of_problem_and_time(paper4):
    with pytest.raises(ValueError, match="problem"):
        solve_dp("not a problem")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"horizon must be an integer in 1\.\.100"):
        GBWMProblem(horizon=101, initial_wealth=1.0, goals=(Goal(101, 1.0, 1.0),))
    with pytest.raises(ValueError, match="t must be"):
        paper4.act(17, np.array([1.0]))
    with pytest.raises(ValueError, match="t must be"):
        paper4.act(-1, np.array([1.0]))
    with pytest.raises(ValueError, match="wealth"):
        paper4.act(3, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="wealth"):
        paper4.act(3, np.array([-1.0]))


def test_problem_without_goals_and_read_only_tables():
    problem = GBWMProblem(horizon=5, initial_wealth=3.0, goals=())
    solution = solve_dp(problem)
    assert solution.expected_utility == 0.0
    assert not solution.act(2, np.array([1.0, 10.0]))[0].any()
    with pytest.raises(ValueError):
        solution.value[0, 0] = 1.0


def test_grid_points_sets_the_grid_size():
    solution = solve_dp(paper_problem(1), grid_points=400)
    assert solution.wealth_grid.size == 400
    assert solution.expected_utility == pytest.approx(18.6, rel=5e-3)
