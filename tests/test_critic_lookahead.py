"""CriticLookahead: one step of policy improvement with a trained model's own critic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch as th
from scipy.special import ndtr

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs.dynamics import apply_decisions, problem_table, step_year
from gbwm_sb3.envs.observation import encode_observation
from gbwm_sb3.evaluation import CriticLookahead, SB3Policy, evaluate
from gbwm_sb3.evaluation.value_grid import smooth_rows
from gbwm_sb3.ppo.presets import paper_ppo
from gbwm_sb3.problem.inflation import InflationModel
from gbwm_sb3.problem.market import StudentTMarket
from gbwm_sb3.problem.model import GBWMProblem, Goal, paper_portfolios, paper_problem
from gbwm_sb3.problem.regimes import two_regime_us_market

PLAIN = GBWMProblem(horizon=6, initial_wealth=50.0, portfolios=paper_portfolios(),
                    goals=(Goal(2, 20.0, 4.0), Goal(2, levels=[(10.0, 2.0), (25.0, 5.0)]),
                           Goal(5, 30.0, 6.0), Goal(6, 40.0, 8.0)))
ECONOMIES = {
    "lognormal": PLAIN,
    "survival": dataclasses.replace(PLAIN, survival=(0.99, 0.97, 0.9, 0.8, 0.6, 0.5)),
    "regimes": dataclasses.replace(PLAIN, market=two_regime_us_market()),
    "inflation": dataclasses.replace(PLAIN, inflation=InflationModel(
        mean=0.025, persistence=0.6, volatility=0.015, correlation=-0.3)),
    "student_t": dataclasses.replace(PLAIN, market=StudentTMarket(4.0)),
}
SCALE = 0.05


def _sampled_q(model, problem: GBWMProblem, t: int, wealth: float, decision: int,
               portfolio: int, regime: int | None, rate: float | None,
               draws: int = 200_000, level: float | None = None) -> tuple[float, float]:
    """Q(d, j) by simulation with the year kernel and the critic read directly: mean and
    standard error."""
    rng = np.random.default_rng(123)
    table = problem_table(problem)
    shocks = problem.market.draw_shocks(rng, draws)
    regimes = None if regime is None else np.full(draws, regime)
    inflation = None
    next_rate = None
    levels = next_levels = None
    if rate is not None:
        assert problem.inflation is not None
        eps = rng.standard_normal(draws)
        next_rate = problem.inflation.next_rate(np.full(draws, rate), eps)
        inflation = (eps, next_rate)
        if level is not None:
            levels = np.full(draws, level)
            next_levels = levels * np.exp(next_rate)
    next_wealth, reward, _, _ = step_year(
        table, t, np.full(draws, wealth), np.full(draws, decision), np.full(draws, portfolio),
        shocks, None, None, regimes, inflation, levels)
    value = np.zeros(draws)
    if t + 1 < problem.horizon:
        following = None
        if regime is not None:
            market = problem.market
            following = market.next_regime(regimes, rng.random(draws))
        obs = encode_observation(table, t + 1, next_wealth, False, following, next_rate,
                                 next_levels)
        with th.no_grad():
            value = model.policy.predict_values(th.as_tensor(obs)).numpy().ravel()
    alive = rng.random(draws) < table.survival[0, t]
    now = apply_decisions(table, 0, t, np.full(draws, wealth), np.full(draws, decision),
                          None, levels)[1]
    q = SCALE * now + np.where(alive, SCALE * (reward - now) + model.gamma * value, 0.0)
    return float(q.mean()), float(q.std() / np.sqrt(draws))


@pytest.mark.parametrize("economy", sorted(ECONOMIES))
@pytest.mark.parametrize("t", [1, 5])
def test_q_values_match_a_simulation_of_the_year(economy: str, t: int) -> None:
    problem = ECONOMIES[economy]
    model = paper_ppo(problem=problem, seed=0)
    lookahead = CriticLookahead(model, problem, reward_scale=SCALE)
    regime = 1 if economy == "regimes" else None
    rate = 0.04 if economy == "inflation" else None
    for wealth, decision in ((35.0, 0), (80.0, 1), (12.0, 0)):
        q = lookahead.q_values(t, np.array([wealth]),
                               decision, regime=None if regime is None else np.array([regime]),
                               inflation=None if rate is None else np.array([rate]))[0]
        for portfolio in (0, 7, 14):
            mean, error = _sampled_q(model, problem, t, wealth, decision, portfolio, regime,
                                     rate)
            assert abs(q[portfolio] - mean) < 4 * error + 2e-4 * max(1.0, abs(mean)), (
                economy, t, wealth, decision, portfolio, q[portfolio], mean, error)


def test_nominal_amounts_are_read_row_by_row_with_the_price_level() -> None:
    inflation = InflationModel(mean=0.025, persistence=0.6, volatility=0.015,
                               correlation=-0.3)
    goals = tuple(Goal(g.time, levels=g.levels, name=g.name, nominal=g.time == 5)
                  for g in PLAIN.goals)
    problem = dataclasses.replace(PLAIN, goals=goals, inflation=inflation,
                                  nominal_infusions={1: -2.0, 3: 1.5})
    model = paper_ppo(problem=problem, seed=0)
    lookahead = CriticLookahead(model, problem, reward_scale=SCALE)
    with pytest.raises(ValueError, match="price_level"):
        lookahead.act(1, np.array([40.0]), inflation=np.array([0.03]))
    for t, level in ((1, 1.1), (4, 1.3)):
        q = lookahead.q_values(t, np.array([40.0]), 0, inflation=np.array([0.03]),
                               price_level=np.array([level]))[0]
        for portfolio in (0, 14):
            mean, error = _sampled_q(model, problem, t, 40.0, 0, portfolio, None, 0.03,
                                     level=level)
            assert abs(q[portfolio] - mean) < 4 * error + 2e-4 * max(1.0, abs(mean))


def test_smoothing_integrates_a_step_exactly_up_to_the_grid() -> None:
    grid = np.linspace(-3.0, 3.0, 6001)
    step = grid[1] - grid[0]
    values = (grid >= 0.0).astype(float)
    for width in (0.02, 0.3, 1.0):
        smoothed = smooth_rows(values[None, :], None, width, step)[0]
        inside = np.abs(grid) < 1.5
        expected = ndtr(grid / width)
        assert np.abs(smoothed - expected)[inside].max() < step / width
    assert np.array_equal(smooth_rows(values[None, :], None, 0.0, step)[0], values)
    # a law of its own: the Student-t's cell masses
    market = StudentTMarket(4.0)
    smoothed = smooth_rows(values[None, :], market, 0.5, step)[0]
    inside = np.abs(grid) < 1.0
    assert np.abs(smoothed - market.cdf(grid / 0.5))[inside].max() < 2 * step / 0.5


def test_act_is_deterministic_and_keeps_the_models_own_decision_with_one() -> None:
    problem = ECONOMIES["regimes"]
    model = paper_ppo(problem=problem, seed=0)
    wealth = np.linspace(5.0, 120.0, 50)
    regime = np.arange(50) % 2
    own = SB3Policy(model, problem).act(2, wealth, regime)[0]
    single = CriticLookahead(model, problem, decisions=1, reward_scale=SCALE)
    take, portfolio = single.act(2, wealth, regime)
    assert np.array_equal(take, own)
    assert portfolio.min() >= 0 and portfolio.max() < problem.num_portfolios
    again = single.act(2, wealth, regime)
    assert np.array_equal(again[1], portfolio)
    wide = CriticLookahead(model, problem, decisions=6, reward_scale=SCALE)
    take_wide, portfolio_wide = wide.act(2, wealth, regime)
    q_own = single.q_values(2, wealth, own, regime)
    q_wide = wide.q_values(2, wealth, take_wide, regime)
    best_own = q_own[np.arange(50), portfolio]
    assert np.all(q_wide[np.arange(50), portfolio_wide] >= best_own - 1e-12)


def test_it_scores_like_any_policy_and_the_paper_family_keeps_take_flags() -> None:
    problem = paper_problem(2)
    model = paper_ppo(problem=problem, seed=0)
    model.learn(4800 * problem.horizon)
    lookahead = CriticLookahead(model, problem)  # the scale read from the model's env
    assert lookahead.reward_scale == 1.0
    take, _ = lookahead.act(0, np.array([100.0, 5.0]))
    assert take.dtype == bool
    report = evaluate({"dp": solve_dp(problem), "ppo": SB3Policy(model, problem),
                       "lookahead": lookahead}, problem, n_paths=2000, seed=1)
    efficiency = report["lookahead"].efficiency
    assert efficiency is not None and 0.0 < efficiency <= 1.05


def test_bad_arguments_name_the_field(tmp_path) -> None:
    problem = ECONOMIES["inflation"]
    model = paper_ppo(problem=problem, seed=0)
    for field, value in (("decisions", 0), ("decisions", 65), ("decisions", True),
                         ("inflation_nodes", 17), ("reward_scale", -1.0),
                         ("reward_scale", float("nan"))):
        with pytest.raises(ValueError, match=field):
            CriticLookahead(model, problem, **{field: value})
    lookahead = CriticLookahead(model, problem)
    with pytest.raises(ValueError, match="inflation"):
        lookahead.act(1, np.array([30.0]))
    regimes = ECONOMIES["regimes"]
    with pytest.raises(ValueError, match="regime"):
        CriticLookahead(paper_ppo(problem=regimes, seed=0), regimes).act(1, np.array([30.0]))
    with pytest.raises(ValueError, match="t must be"):
        lookahead.q_values(6, np.array([30.0]), 0, inflation=np.array([0.02]))
    model.save(tmp_path / "model")
    loaded = type(model).load(tmp_path / "model")
    with pytest.raises(ValueError, match="reward_scale"):
        CriticLookahead(loaded, problem)
    assert CriticLookahead(loaded, problem, reward_scale=0.5).reward_scale == 0.5


def test_the_pretrained_network_is_read_through_its_own_critic() -> None:
    from gbwm_sb3.pretrained import pretrained_policy

    problem = PLAIN
    policy = pretrained_policy(problem, lookahead=1)
    lookahead = CriticLookahead(policy, problem, decisions=3)
    assert lookahead.reward_scale == pytest.approx(1.0 / problem.total_utility)
    wealth = np.array([12.0, 35.0, 80.0])
    q = lookahead.q_values(1, wealth, 0)
    draws = 200_000
    shocks = np.random.default_rng(5).standard_normal(draws)
    table = problem_table(problem)
    for i, w in enumerate(wealth):
        for portfolio in (0, 7, 14):
            next_wealth, reward, _, _ = step_year(table, 1, np.full(draws, w), np.zeros(draws),
                                                  np.full(draws, portfolio), shocks)
            sampled = reward / problem.total_utility + policy.scorer().values(2, next_wealth)
            error = sampled.std() / np.sqrt(draws)
            assert abs(q[i, portfolio] - sampled.mean()) < 4 * error + 2e-4
    take, portfolio = lookahead.act(1, wealth)
    assert take.shape == portfolio.shape == (3,)
    with pytest.raises(ValueError, match="reward_scale"):
        CriticLookahead(policy, problem, reward_scale=0.1)
