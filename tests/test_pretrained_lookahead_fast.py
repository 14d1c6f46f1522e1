"""The lookahead policy's fast path (candidates and values without observations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from gbwm_sb3.pretrained import pretrained_network
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.lookahead import LookaheadPolicy
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem import paper_problem
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import sample_problems


@pytest.fixture(scope="module")
def network() -> UniversalGBWMPolicy:
    return pretrained_network()


def _problems() -> list[GBWMProblem]:
    """The paper's NG=4 and NG=16 and sampled problems (one with 48 decisions a year)."""
    sampled = sample_problems(4, seed=5)
    assert max(p.max_decisions for p in sampled) > 16
    return [paper_problem(4), paper_problem(16), *sampled]


def _wealths(problem: GBWMProblem, n: int) -> np.ndarray:
    return problem.initial_wealth * np.geomspace(1 / 20, 20, n)


def _generic(network: UniversalGBWMPolicy, obs: th.Tensor, k: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top-k decisions, portfolios given each, their probabilities and V (generic path)."""
    with th.no_grad():
        parts = network.observation_parts(obs)
        embedding = network._embedding(parts)
        top = th.softmax(network._goal_logits(parts, embedding), dim=1).topk(k, dim=1)
        portfolios = th.stack([
            network._portfolio_logits(parts, embedding, top.indices[:, j]).argmax(dim=1)
            for j in range(k)], dim=1)
        values = network.predict_values(obs)[:, 0]
    return top.indices.numpy(), portfolios.numpy(), top.values.numpy(), values.numpy()


@pytest.mark.parametrize("k", [4, 7])
def test_candidates_and_values_are_the_generic_ones(network: UniversalGBWMPolicy,
                                                    k: int) -> None:
    for problem in _problems():
        policy = PretrainedPolicy(network, problem)
        scorer = policy.scorer()
        wealth = _wealths(problem, 401)
        for t in range(problem.horizon):
            decisions, portfolios, probabilities, values = _generic(
                network, th.as_tensor(policy.observe(t, wealth)), k)
            fast = scorer.candidates(t, wealth, k)
            assert all(a.shape == (wealth.shape[0], k) for a in fast)
            real = probabilities > 0
            assert np.array_equal(fast[2] > 0, real), (problem, t)
            assert np.array_equal(fast[0][real], decisions[real]), (problem, t)
            assert (fast[0][~real] == 0).all()
            assert np.array_equal(fast[1][real], portfolios[real]), (problem, t)
            np.testing.assert_allclose(fast[2], probabilities, rtol=0, atol=1e-5)
            np.testing.assert_allclose(scorer.values(t, wealth), values, rtol=1e-5, atol=1e-5)


def test_lookahead_is_the_generic_lookahead(network: UniversalGBWMPolicy) -> None:
    for problem in _problems():
        fast = LookaheadPolicy(network, problem, exact=True)
        generic = LookaheadPolicy(network, problem, exact=True)
        generic._fast = False
        wealth = _wealths(problem, 200)
        for t in range(problem.horizon):
            for a, b in zip(fast.act(t, wealth), generic.act(t, wealth), strict=True):
                assert np.array_equal(a, b), (problem, t)
            if t % 3:
                continue
            candidates, portfolios, q = fast.decision_values(t, wealth)
            expected = generic.decision_values(t, wealth)
            real = np.isfinite(expected[2])
            assert np.array_equal(np.isfinite(q), real)
            assert np.array_equal(candidates[real], expected[0][real])
            assert np.array_equal(portfolios[real], expected[1][real])
            np.testing.assert_allclose(q[real], expected[2][real], rtol=1e-5, atol=1e-6)


def test_equal_wealths_get_equal_actions(network: UniversalGBWMPolicy) -> None:
    problem = paper_problem(16)
    policy = LookaheadPolicy(network, problem)
    wealth = np.repeat(_wealths(problem, 5), 3)
    for t in (0, 7):
        take, portfolio = policy.act(t, wealth)
        alone = [policy.act(t, wealth[i:i + 1]) for i in range(wealth.shape[0])]
        assert np.array_equal(take, [a[0][0] for a in alone])
        assert np.array_equal(portfolio, [a[1][0] for a in alone])
