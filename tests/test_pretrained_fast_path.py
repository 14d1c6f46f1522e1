"""The greedy fast path of ``PretrainedPolicy.act`` against the network's generic path."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from gbwm_sb3.envs.universal_observation import (
    UPCOMING_BLOCK,
    UPCOMING_FEATURES,
    UPCOMING_GOAL_YEARS,
)
from gbwm_sb3.pretrained import PPO_WEIGHTS, pretrained_network
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.policy import MASKED_LOGIT, UniversalGBWMPolicy
from gbwm_sb3.problem import paper_problem
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import sample_problems


@pytest.fixture(scope="module", params=["shipped", "ppo"])
def network(request: pytest.FixtureRequest) -> UniversalGBWMPolicy:
    """The shipped network (it reads the entry-reach inputs) and the PPO one (it does not)."""
    return pretrained_network(None if request.param == "shipped" else PPO_WEIGHTS)


@pytest.fixture(scope="module")
def ppo_network() -> UniversalGBWMPolicy:
    """The PPO network: the ten portfolio inputs the widening tests add to."""
    return pretrained_network(PPO_WEIGHTS)


def _general_problems() -> list:
    """Sampled problems with several goals a year and goals with levels among them."""
    problems = [*sample_problems(3, seed=11), *sample_problems(3, seed=3)]
    assert any(p.max_decisions > 4 for p in problems)
    assert any(len(g.levels) > 1 for p in problems for g in p.goals)
    return problems


def _generic(network: UniversalGBWMPolicy, obs: th.Tensor) -> tuple[th.Tensor, ...]:
    """Greedy actions, decision logits and portfolio logits of the generic path (``_act``)."""
    with th.no_grad():
        parts = network.observation_parts(obs)
        embedding = network._embedding(parts)
        goal = network._goal_logits(parts, embedding)
        decision = th.log_softmax(goal, dim=1).argmax(dim=1)
        portfolio = network._portfolio_logits(parts, embedding, decision)
        chosen = th.log_softmax(portfolio, dim=1).argmax(dim=1)
    return th.stack([decision, chosen], dim=1), goal, portfolio


def _check_problem(network: UniversalGBWMPolicy, problem, n: int) -> None:
    policy = PretrainedPolicy(network, problem, exact=True)
    scorer = policy.scorer()
    wealth = problem.initial_wealth * np.geomspace(1 / 20, 20, n)
    k_max = problem.max_decisions
    for t in range(problem.horizon):
        actions, goal, portfolio = _generic(network, th.as_tensor(policy.observe(t, wealth)))
        fast_goal, fast_portfolio, fast_decision = scorer.logits(t, wealth)
        decision, chosen = scorer.actions(t, wealth)
        assert np.array_equal(decision, actions[:, 0].numpy()), (problem, t)
        assert np.array_equal(chosen, actions[:, 1].numpy()), (problem, t)
        assert np.array_equal(fast_decision, decision)
        k = fast_goal.shape[1]
        assert k == len(problem.decisions(t)) <= k_max
        assert (goal[:, k:] == MASKED_LOGIT).all()
        assert th.equal(fast_goal == MASKED_LOGIT, goal[:, :k] == MASKED_LOGIT)
        # equal but for the last rows of a matrix product, which BLAS may sum in another order
        th.testing.assert_close(fast_goal, goal[:, :k], rtol=1e-6, atol=1e-5)
        th.testing.assert_close(th.softmax(fast_goal, 1), th.softmax(goal, 1)[:, :k],
                                rtol=0, atol=1e-5)
        th.testing.assert_close(fast_portfolio, portfolio[:, : problem.num_portfolios],
                                rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("goals, n", [(4, 4_000), (16, 2_000)])
def test_paper_problems_get_the_generic_actions(network: UniversalGBWMPolicy, goals: int,
                                                n: int) -> None:
    _check_problem(network, paper_problem(goals), n)


def test_general_problems_get_the_generic_actions(network: UniversalGBWMPolicy) -> None:
    for problem in _general_problems():
        _check_problem(network, problem, 500)


@pytest.mark.slow
def test_many_wealths_get_the_generic_actions(network: UniversalGBWMPolicy) -> None:
    for problem in [paper_problem(4), paper_problem(16), *_general_problems(),
                    *sample_problems(6, seed=29)]:
        _check_problem(network, problem, 20_000)


def test_features_are_the_encoders(network: UniversalGBWMPolicy) -> None:
    for problem in [paper_problem(4), *_general_problems()[:3]]:
        policy = PretrainedPolicy(network, problem, exact=True)
        scorer = policy.scorer()
        wealth = problem.initial_wealth * np.array([0.0, 1e-4, 0.3, 1.0, 7.0, 1e3])
        for t in range(problem.horizon):
            year = scorer.year(t)
            cash = scorer.cash(year, wealth)
            obs = policy.observe(t, wealth)
            assert np.array_equal(scorer.trajectory_features(year, cash).numpy(), obs[:, :16])
            upcoming = obs[:, UPCOMING_BLOCK].reshape(-1, UPCOMING_GOAL_YEARS,
                                                      len(UPCOMING_FEATURES))
            fast = scorer.upcoming_features(year, cash).numpy()
            assert np.array_equal(fast, upcoming[:, : fast.shape[1]])
            assert not upcoming[:, fast.shape[1]:].any()


def test_act_handles_any_number_of_wealths(network: UniversalGBWMPolicy) -> None:
    problem = paper_problem(4)
    policy = PretrainedPolicy(network, problem, exact=True)
    for n in (0, 1, 2, 3, 5, 4097):
        wealth = problem.initial_wealth * np.geomspace(0.5, 2, n)
        for t in (0, 4):
            take, portfolio = policy.act(t, wealth)
            assert take.dtype == bool and take.shape == portfolio.shape == (n,)
            if n:
                actions, _, _ = _generic(network, th.as_tensor(policy.observe(t, wealth)))
                assert np.array_equal(take, actions[:, 0].numpy() != 0)
                assert np.array_equal(portfolio, actions[:, 1].numpy())
    same = np.full(10, problem.initial_wealth)  # every path at one wealth: computed once
    take, portfolio = policy.act(0, same)
    assert (portfolio == portfolio[0]).all() and portfolio.shape == (10,)
    with pytest.raises(ValueError, match="t must be an integer year"):
        policy.act(16, same)


def test_the_fast_path_follows_weight_changes(network: UniversalGBWMPolicy) -> None:
    problem = paper_problem(4)
    copy = network  # the cached network: work on a copy
    state = {k: v.clone() for k, v in copy.state_dict().items()}
    model = UniversalGBWMPolicy(copy.observation_space, copy.action_space, lambda _: 1e-3,
                                embedding=copy.embedding, head=copy.head, value=copy.value,
                                weighted_reach=copy.weighted_reach,
                                entry_reach=copy.entry_reach)
    model.load_state_dict(state)
    policy = PretrainedPolicy(model, problem, exact=True)
    wealth = problem.initial_wealth * np.geomspace(0.2, 5, 64)
    before = policy.act(5, wealth)
    scorer = policy.scorer()
    with th.no_grad():
        model.portfolio_scorer[2].weight.mul_(-1.0)  # prefers the other end of the frontier
    after = policy.act(5, wealth)
    assert policy.scorer() is not scorer
    actions, _, _ = _generic(model, th.as_tensor(policy.observe(5, wealth)))
    assert np.array_equal(after[1], actions[:, 1].numpy())
    assert not np.array_equal(before[1], after[1])


def test_sampling_still_uses_the_network(network: UniversalGBWMPolicy) -> None:
    problem = paper_problem(4)
    policy = PretrainedPolicy(network, problem, deterministic=False)
    wealth = problem.initial_wealth * np.geomspace(0.5, 2, 300)
    th.manual_seed(0)
    a = policy.act(4, wealth)
    th.manual_seed(0)
    b = policy.act(4, wealth)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert ((a[1] >= 0) & (a[1] < problem.num_portfolios)).all()
    greedy = PretrainedPolicy(network, problem, exact=True).act(4, wealth)
    assert not np.array_equal(a[1], greedy[1])


@pytest.fixture(scope="module")
def weighted_network(ppo_network: UniversalGBWMPolicy) -> UniversalGBWMPolicy:
    """The PPO network with the weighted reach inputs, their weights drawn at random."""
    network = ppo_network
    from gbwm_sb3.pretrained.weights import network_spaces

    wide = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, weighted_reach=True)
    state = network.state_dict()
    first = wide.state_dict()["portfolio_scorer.0.weight"].clone()
    first[:, : state["portfolio_scorer.0.weight"].shape[1]] = state["portfolio_scorer.0.weight"]
    first[:, -2:] = th.randn(first.shape[0], 2, generator=th.Generator().manual_seed(5))
    wide.load_state_dict({**state, "portfolio_scorer.0.weight": first})
    wide.set_training_mode(False)
    return wide


def test_the_weighted_reach_inputs_get_the_generic_actions(
        weighted_network: UniversalGBWMPolicy) -> None:
    assert weighted_network.portfolio_inputs == 12
    for problem in [paper_problem(4), *_general_problems()[:4]]:
        _check_problem(weighted_network, problem, 400)


def test_the_weighted_reach_is_the_utility_share_mix_of_the_two_reaches(
        weighted_network: UniversalGBWMPolicy) -> None:
    from gbwm_sb3.pretrained.policy import next_goal_share

    problem = paper_problem(4)  # goals worth 10 + t at t = 4, 8, 12, 16
    policy = PretrainedPolicy(weighted_network, problem, exact=True)
    parts = weighted_network.observation_parts(th.as_tensor(policy.observe(4, np.array([100.0]))))
    share = next_goal_share(parts["trajectory"], parts["upcoming"])
    # at year 4 (goal worth 14 due now) the next goal (t = 8, worth 18) has 18 / (18 + 22 + 26)
    assert share.item() == pytest.approx(18 / 66, rel=1e-5)
    parts = weighted_network.observation_parts(th.as_tensor(policy.observe(12,
                                                                           np.array([100.0]))))
    assert next_goal_share(parts["trajectory"], parts["upcoming"]).item() == pytest.approx(1.0)


def _widened(network: UniversalGBWMPolicy, seed: int, **flags: bool) -> UniversalGBWMPolicy:
    """``network`` with more portfolio inputs, the new inputs' weights drawn at random."""
    from gbwm_sb3.pretrained.weights import copy_weights_widened, network_spaces

    wide = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, **flags)
    copy_weights_widened(network, wide)
    state = wide.state_dict()
    first = state["portfolio_scorer.0.weight"]
    extra = first.shape[1] - network.portfolio_inputs
    first[:, -extra:] = th.randn(first.shape[0], extra, generator=th.Generator().manual_seed(seed))
    wide.load_state_dict(state)
    wide.set_training_mode(False)
    return wide


@pytest.mark.parametrize("weighted", [False, True])
def test_the_entry_reach_inputs_get_the_generic_actions(ppo_network: UniversalGBWMPolicy,
                                                        weighted: bool) -> None:
    wide = _widened(ppo_network, 7, entry_reach=True, weighted_reach=weighted)
    assert wide.portfolio_inputs == 15 + 2 * weighted
    for problem in [paper_problem(4), *_general_problems()[:4]]:
        _check_problem(wide, problem, 400)


def test_the_entry_reach_is_the_lognormal_reach_of_the_next_years_cheapest_decision(
        ppo_network: UniversalGBWMPolicy) -> None:
    from gbwm_sb3.pretrained.policy import ENTRY_REACH_INPUTS, _entry_reach_columns, normal_cdf
    from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios

    # year 3: a car with a basic level (cost 4, the most utility per cost) and a full one
    # (cost 12), and a trip (cost 2, the cheapest decision that funds anything)
    mean, std = np.array([0.03, 0.06, 0.09]), np.array([0.02, 0.10, 0.20])
    problem = GBWMProblem(
        horizon=5, initial_wealth=3.5,
        goals=(Goal(time=3, levels=((4.0, 10.0), (12.0, 20.0))), Goal(time=3, cost=2.0,
                                                                      utility=3.0)),
        portfolios=Portfolios(mean, std))
    wide = _widened(ppo_network, 3, entry_reach=True)
    policy = PretrainedPolicy(wide, problem, exact=True)
    parts = wide.observation_parts(th.as_tensor(policy.observe(1, np.array([3.9]))))
    rows = th.arange(1)
    inputs, next_reach, _ = wide._decision_context(parts, rows, th.zeros(1, dtype=th.long))
    columns = dict(zip(ENTRY_REACH_INPUTS,
                       _entry_reach_columns(parts["frontier"], rows, parts["upcoming"],
                                            inputs[:, 5]), strict=True))
    tau, drift = 2.0, mean - 0.5 * std ** 2
    for name, cost in (("entry_probability", 2.0), ("efficient_probability", 4.0)):
        z = (np.log(3.9 / cost) + drift * tau) / (std * np.sqrt(tau))
        expected = normal_cdf(th.as_tensor(np.clip(z, -6.0, 6.0), dtype=th.float32))
        assert th.allclose(columns[name][0, :3], expected, atol=1e-5), name
        assert (columns[name][0, 3:] == 0).all()  # portfolios the problem does not have
    # the year's full cost (14) is out of reach: the riskiest portfolio gives it the best
    # chance; its cheaper decisions are best secured by the safest portfolio
    assert int(next_reach[0, :3, 1].argmax()) == 2
    for name in ("entry_probability", "efficient_probability"):
        assert int(columns[name][0, :3].argmax()) == 0
        gap = columns[f"{name}_gap"][0, :3]
        assert gap[0] == 0.0 and gap[1] <= 0.0 and gap[2] < 0.0


def test_widened_weights_act_as_the_source_and_keep_each_input_by_name(
        ppo_network: UniversalGBWMPolicy) -> None:
    from gbwm_sb3.pretrained.weights import copy_weights_widened, network_spaces

    network = ppo_network
    weighted = _widened(network, 5, weighted_reach=True)
    both = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, weighted_reach=True,
                               entry_reach=True)
    copy_weights_widened(weighted, both)
    both.set_training_mode(False)
    assert both.portfolio_input_names[10:12] == ("weighted_reach", "weighted_reach_gap")
    problem = _general_problems()[0]
    policy = PretrainedPolicy(network, problem, exact=True)
    obs = th.as_tensor(policy.observe(1, problem.initial_wealth * np.geomspace(0.1, 10, 64)))
    for got, want in zip(_generic(both, obs), _generic(weighted, obs), strict=True):
        assert th.equal(got, want)
    entry_only = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, entry_reach=True)
    with pytest.raises(ValueError, match="lacks weighted_reach, weighted_reach_gap"):
        copy_weights_widened(weighted, entry_only)
    small = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, head=8)
    with pytest.raises(ValueError, match="must have the source network's shape"):
        copy_weights_widened(network, small)
    relu = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, activation_fn=th.nn.ReLU)
    with pytest.raises(ValueError, match="'activation': 'Tanh'}, got .*'activation': 'ReLU'"):
        copy_weights_widened(network, relu)


def _with_margins(network: UniversalGBWMPolicy, seed: int, flag: str = "decision_margins"
                  ) -> UniversalGBWMPolicy:
    """``network`` reading the goal head's margin (or ``flag``'s) inputs, their weights
    drawn at random."""
    from gbwm_sb3.pretrained.weights import copy_weights_widened, network_spaces

    wide = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0,
                               entry_reach=network.entry_reach, **{flag: True})
    copy_weights_widened(network, wide)
    state = wide.state_dict()
    first = state["decision_scorer.0.weight"]
    first[:, -3:] = th.randn(first.shape[0], 3, generator=th.Generator().manual_seed(seed))
    wide.load_state_dict(state)
    wide.set_training_mode(False)
    return wide


def _acts_otherwise(wide: UniversalGBWMPolicy, network: UniversalGBWMPolicy,
                    problem: GBWMProblem) -> bool:
    """Whether ``wide`` chooses otherwise than ``network`` somewhere on a wealth grid."""
    policy = PretrainedPolicy(network, problem, exact=True)
    wealth = problem.initial_wealth * np.geomspace(1 / 4, 4, 200)
    for t in range(problem.horizon):
        obs = th.as_tensor(policy.observe(t, wealth))
        if not th.equal(_generic(wide, obs)[1], _generic(network, obs)[1]):
            return True
    return False


def test_the_margin_inputs_get_the_generic_actions(network: UniversalGBWMPolicy) -> None:
    from gbwm_sb3.pretrained.families import family

    wide = _with_margins(network, 5)
    assert wide.decision_input_names[-3:] == ("utility_gain", "cost_increase", "gain_per_cost")
    crowded = [family("crowded_years").problem(seed) for seed in (0, 1)]
    for problem in [paper_problem(4), *_general_problems()[:4], *crowded]:
        _check_problem(wide, problem, 300)
    # the margins move the decisions: the same network without them acts otherwise
    problem = _general_problems()[0]
    assert _acts_otherwise(wide, network, problem)


def test_the_decision_reach_inputs_get_the_generic_actions(network: UniversalGBWMPolicy
                                                           ) -> None:
    from gbwm_sb3.pretrained.families import family

    wide = _with_margins(network, 6, "decision_reach")
    assert wide.decision_input_names[-3:] == ("next_year_value", "entry_value",
                                              "one_step_value")
    problems = [paper_problem(4), *_general_problems()[:4],
                *(family(name).problem(seed) for name in ("crowded_years", "underfunded")
                  for seed in (0, 1))]
    for problem in problems:
        _check_problem(wide, problem, 300)
    # the inputs move the decisions: the same network without them acts otherwise
    problem = family("underfunded").problem(0)
    assert _acts_otherwise(wide, network, problem)


def test_a_wider_network_gets_the_generic_actions() -> None:
    """The fast path reads the layer sizes from the network: 128 units (``--width 128``)
    act as the generic forward pass does."""
    from gbwm_sb3.pretrained.families import family
    from gbwm_sb3.pretrained.weights import network_spaces

    th.manual_seed(11)
    wide = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, embedding=(128, 128),
                               head=128, entry_reach=True)
    with th.no_grad():  # a fresh network's scores are near ties a rounding can reorder:
        for scorer in (wide.decision_scorer, wide.portfolio_scorer):  # spread them as
            scorer[-1].weight.mul_(1_000.0)  # trained weights do
    wide.set_training_mode(False)
    for problem in [paper_problem(4), *_general_problems()[:2],
                    family("crowded_years").problem(0)]:
        _check_problem(wide, problem, 200)
