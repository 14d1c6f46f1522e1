"""Policy protocol adapters: SB3 models, benchmark strategies, hybrids."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from gbwm_sb3 import GBWMEnv, GBWMPolicy, GBWMProblem, Portfolios, paper_problem, solve_dp
from gbwm_sb3.common.threads import configure_torch_threads
from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.observation import encode_observation
from gbwm_sb3.evaluation.strategies import (
    BuyAndHold,
    GBWMPolicyLike,
    GreedyGoals,
    Hybrid,
    RandomPolicy,
    SB3Policy,
)

PROBLEM = paper_problem(4)
WEALTH = PROBLEM.initial_wealth * np.exp(np.linspace(-2.0, 2.0, 257))


@pytest.fixture(scope="module")
def dp():
    return solve_dp(PROBLEM)


@pytest.fixture(scope="module")
def ppo_model():
    configure_torch_threads()
    model = PPO("MlpPolicy", GBWMEnv(PROBLEM), n_steps=64, batch_size=32, n_epochs=1, seed=0,
                policy_kwargs=dict(net_arch=[16]))
    model.learn(128)
    return model


@pytest.fixture(scope="module")
def gbwm_policy_model():
    configure_torch_threads()
    model = PPO(GBWMPolicy, GBWMEnv(PROBLEM), n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(64)
    return model


@pytest.fixture(scope="module")
def maskable_model():
    configure_torch_threads()
    model = MaskablePPO("MlpPolicy", GBWMEnv(PROBLEM), n_steps=64, batch_size=32, n_epochs=1,
                        seed=0, policy_kwargs=dict(net_arch=[16]))
    model.learn(64)
    return model


def test_everything_satisfies_the_protocol(dp, ppo_model):
    for policy in (dp, SB3Policy(ppo_model, PROBLEM), GreedyGoals(dp), BuyAndHold(),
                   RandomPolicy(PROBLEM), Hybrid(dp, BuyAndHold())):
        assert isinstance(policy, GBWMPolicyLike)
        take, port = policy.act(4, WEALTH)
        assert take.shape == port.shape == WEALTH.shape
        assert take.dtype == bool and np.issubdtype(port.dtype, np.integer)
        assert np.all((port >= 0) & (port < PROBLEM.num_portfolios))


@pytest.mark.parametrize("fixture", ["ppo_model", "gbwm_policy_model"])
def test_sb3_policy_deterministic_matches_model_predict(fixture, request):
    model = request.getfixturevalue(fixture)
    policy = SB3Policy(model, PROBLEM)
    table = problem_table(PROBLEM)
    for t in (0, 3, 4, 8, 15):
        take, port = policy.act(t, WEALTH)
        actions, _ = model.predict(encode_observation(table, t, WEALTH), deterministic=True)
        np.testing.assert_array_equal(port, actions[:, 1])
        np.testing.assert_array_equal(take, actions[:, 0] == 1)


def test_sb3_policy_deterministic_is_argmax_of_the_distribution(ppo_model):
    policy = SB3Policy(ppo_model, PROBLEM)
    obs = th.as_tensor(encode_observation(problem_table(PROBLEM), 8, WEALTH))
    with th.no_grad():
        dist = ppo_model.policy.get_distribution(obs)
    goal_probs, port_probs = (d.probs.numpy() for d in dist.distribution)
    take, port = policy.act(8, WEALTH)
    np.testing.assert_array_equal(port, port_probs.argmax(axis=1))
    np.testing.assert_array_equal(take, goal_probs.argmax(axis=1) == 1)


def test_sb3_policy_stochastic_is_reproducible_and_varies(ppo_model):
    a = SB3Policy(ppo_model, PROBLEM, deterministic=False, seed=3)
    b = SB3Policy(ppo_model, PROBLEM, deterministic=False, seed=3)
    th.manual_seed(999)  # global torch state must not matter
    first = a.act(4, WEALTH)
    th.manual_seed(1)
    second = b.act(4, WEALTH)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert len(np.unique(first[1])) > 1  # an almost untrained policy samples many portfolios
    a.reset()
    np.testing.assert_array_equal(a.act(4, WEALTH)[1], first[1])


def test_maskable_policy_never_takes_unaffordable_goals(maskable_model):
    policy = SB3Policy(maskable_model, PROBLEM)
    cost = PROBLEM.cost_by_time[4]
    for deterministic in (True, False):
        policy = SB3Policy(maskable_model, PROBLEM, deterministic=deterministic)
        take, port = policy.act(4, WEALTH)
        assert not np.any(take & (WEALTH < cost))
        assert np.all((port >= 0) & (port < PROBLEM.num_portfolios))
        take, _ = policy.act(5, WEALTH)  # no goal at t = 5: the mask forbids "take"
        assert not take.any()


def test_sb3_policy_validation(ppo_model):
    with pytest.raises(ValueError, match="model"):
        SB3Policy(object(), PROBLEM)
    with pytest.raises(ValueError, match="action_space"):
        SB3Policy(ppo_model, GBWMProblem(horizon=16, initial_wealth=1.0, goals=PROBLEM.goals,
                                         portfolios=Portfolios(means=[0.05],
                                                               volatilities=[0.1])))
    with pytest.raises(ValueError, match="problem"):
        SB3Policy(ppo_model, "problem")  # type: ignore[arg-type]


def test_greedy_takes_whenever_affordable_with_dp_portfolios(dp):
    policy = GreedyGoals(dp)
    take, port = policy.act(4, WEALTH)
    assert take.all()
    cost = PROBLEM.cost_by_time[4]
    post = np.where(WEALTH >= cost, WEALTH - cost, WEALTH)
    np.testing.assert_array_equal(port, dp.portfolio_given(4, post))
    # at a year without a goal, DP's portfolio is its own
    np.testing.assert_array_equal(policy.act(5, WEALTH)[1], dp.act(5, WEALTH)[1])


def test_greedy_with_sb3_portfolios(ppo_model):
    sb3 = SB3Policy(ppo_model, PROBLEM)
    take, port = GreedyGoals(sb3).act(8, WEALTH)
    assert take.all()
    np.testing.assert_array_equal(port, sb3.act(8, WEALTH)[1])


def test_buy_and_hold():
    policy = BuyAndHold(seed=5)
    take, port = policy.act(4, np.full(100_000, 50.0))
    assert np.all(port == 7)
    assert abs(take.mean() - 0.5) < 0.01
    assert BuyAndHold(portfolio=2, take_probability=1.0).act(4, WEALTH)[0].all()
    assert not BuyAndHold(take_probability=0.0).act(4, WEALTH)[0].any()


def test_random_policy_uniform_and_reproducible():
    a, b = RandomPolicy(PROBLEM, seed=7), RandomPolicy(15, seed=7)
    np.random.seed(0)
    take_a, port_a = a.act(3, np.ones(150_000))
    np.random.seed(1)
    take_b, port_b = b.act(3, np.ones(150_000))
    np.testing.assert_array_equal(take_a, take_b)
    np.testing.assert_array_equal(port_a, port_b)
    counts = np.bincount(port_a, minlength=15)
    assert counts.min() > 9_000 and counts.max() < 11_000
    assert abs(take_a.mean() - 0.5) < 0.01
    other = RandomPolicy(PROBLEM, seed=8).act(3, np.ones(1000))[1]
    assert np.any(other != port_a[:1000])


def test_random_streams_are_independent_of_batching():
    """Path k of year t gets the same coin flip however the paths are split into batches."""
    whole = RandomPolicy(PROBLEM, seed=1)
    pieces = RandomPolicy(PROBLEM, seed=1)
    full = [whole.act(t, np.ones(1000)) for t in range(3)]
    first = [pieces.act(t, np.ones(300)) for t in range(3)]
    second = [pieces.act(t, np.ones(700)) for t in range(3)]
    for t in range(3):
        np.testing.assert_array_equal(full[t][0], np.concatenate([first[t][0], second[t][0]]))
        np.testing.assert_array_equal(full[t][1], np.concatenate([first[t][1], second[t][1]]))
    # different years use different streams
    assert np.any(full[0][1] != full[1][1])
    whole.reset()
    np.testing.assert_array_equal(whole.act(0, np.ones(1000))[1], full[0][1])


def test_hybrid_combines_sources(dp):
    same = Hybrid(dp, dp)
    for t in (0, 4, 8, 12, 15):
        take, port = same.act(t, WEALTH)
        take_dp, port_dp = dp.act(t, WEALTH)
        np.testing.assert_array_equal(take, take_dp)
        np.testing.assert_array_equal(port, port_dp)
    take, port = Hybrid(BuyAndHold(take_probability=0.0), dp).act(4, WEALTH)
    assert not take.any()
    np.testing.assert_array_equal(port, dp.portfolio_given(4, WEALTH))
    take, port = Hybrid(dp, BuyAndHold(portfolio=3)).act(4, WEALTH)
    np.testing.assert_array_equal(take, dp.act(4, WEALTH)[0])
    assert np.all(port == 3)


@pytest.mark.parametrize("build,field", [
    (lambda: BuyAndHold(portfolio=-1), "portfolio"),
    (lambda: BuyAndHold(take_probability=1.5), "take_probability"),
    (lambda: BuyAndHold(seed=-3), "seed"),
    (lambda: RandomPolicy(0), "num_portfolios"),
    (lambda: RandomPolicy(seed="x"), "seed"),
    (lambda: GreedyGoals(object()), "portfolios_from"),
    (lambda: Hybrid(object(), BuyAndHold()), "goals_from"),
    (lambda: Hybrid(BuyAndHold(), 3), "portfolios_from"),
])
def test_validation_errors(build, field):
    with pytest.raises(ValueError, match=field):
        build()


def test_portfolio_after_another_policys_goal_decision_uses_the_matching_head(dp):
    """A portfolio head per goal decision: hybrids and greedy get the row of *their* decision."""
    configure_torch_threads()
    model = PPO(GBWMPolicy, GBWMEnv(PROBLEM), n_steps=64, batch_size=32, n_epochs=1, seed=0,
                policy_kwargs=dict(portfolio_given_goal=True))
    n = PROBLEM.num_portfolios
    with th.no_grad():  # skip row prefers portfolio 2, take row portfolio 11, goal head "skip"
        head = model.policy.portfolio_head
        head.weight.zero_()
        head.bias.zero_()
        head.bias[2] = head.bias[n + 11] = 20.0
        model.policy.goal_head.weight.zero_()
        model.policy.goal_head.bias.copy_(th.tensor([20.0, 0.0]))
    cost = PROBLEM.cost_by_time[4]
    affordable = WEALTH >= cost
    for deterministic in (True, False):
        policy = SB3Policy(model, PROBLEM, deterministic=deterministic, seed=1)
        take, port = policy.act(4, WEALTH)
        assert not take.any() and np.all(port == 2)  # its own decision: skip
        after_take = policy.portfolio_for_decision(4, WEALTH, np.ones(WEALTH.shape, bool))
        np.testing.assert_array_equal(after_take, np.where(affordable, 11, 2))
        take, port = GreedyGoals(policy).act(4, WEALTH)
        np.testing.assert_array_equal(port, np.where(affordable, 11, 2))
        # a year without a goal: a "take" changes nothing, so the skip row applies
        assert np.all(policy.portfolio_for_decision(5, WEALTH, np.ones(WEALTH.shape, bool)) == 2)
    take, port = Hybrid(dp, SB3Policy(model, PROBLEM)).act(4, WEALTH)
    assert take.any() and not take.all()
    np.testing.assert_array_equal(port, np.where(take & affordable, 11, 2))
