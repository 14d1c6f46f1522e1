"""Bracketed actions: exact at anchors, bisected between them, equal to the exact ones."""

from __future__ import annotations

import numpy as np
import pytest

from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.pretrained import pretrained_network, pretrained_policy
from gbwm_sb3.pretrained.bracketing import (
    MIN_BRACKETED,
    MIN_STRIDE,
    anchor_stride,
    bracketed_actions,
)
from gbwm_sb3.pretrained.loading import bind_policy
from gbwm_sb3.problem import paper_problem
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import sample_problems


class _Counting:
    """A step function of wealth with known change points; counts the wealths asked."""

    def __init__(self, decision_edges: np.ndarray, portfolio_edges: np.ndarray,
                 decisions: int = 100) -> None:
        self.decision_edges, self.portfolio_edges = decision_edges, portfolio_edges
        self.decisions = decisions  # decision k + decisions is decision k again
        self.asked = 0

    def __call__(self, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.asked += wealth.shape[0]
        decision = np.searchsorted(self.decision_edges, wealth, side="right") % self.decisions
        portfolio = np.searchsorted(self.portfolio_edges, wealth, side="right") % 3
        return decision.astype(np.intp), portfolio.astype(np.intp)


def test_equals_the_exact_step_function_with_far_fewer_calls() -> None:
    rng = np.random.default_rng(0)
    wealth = np.exp(rng.normal(4.0, 0.8, 100_000))
    wealth[:500] = wealth[0]  # repeated wealths are computed once
    exact = _Counting(np.array([20.0, 55.5, 56.0, 90.0, 300.0]), np.array([40.0, 41.0, 120.0]))
    decision, portfolio = bracketed_actions(exact, wealth, thresholds=np.array([20.0]))
    want = exact(wealth)
    np.testing.assert_array_equal(decision, want[0])
    np.testing.assert_array_equal(portfolio, want[1])
    assert exact.asked - wealth.shape[0] < wealth.shape[0] / 10


def test_a_jump_at_a_threshold_is_found_even_inside_one_gap() -> None:
    wealth = np.linspace(1.0, 2.0, 10_000)
    narrow = (wealth[5000] + wealth[5001]) / 2, (wealth[5003] + wealth[5004]) / 2
    exact = _Counting(np.array(narrow), np.array([]), decisions=2)  # 1 on 3 wealths only
    thresholds = np.array(narrow)
    decision, _ = bracketed_actions(exact, wealth, thresholds, stride=64)
    np.testing.assert_array_equal(decision, exact(wealth)[0])
    # without the thresholds a stretch narrower than a gap can go unseen: the limit
    decision, _ = bracketed_actions(exact, wealth, np.array([]), stride=64)
    assert (decision != exact(wealth)[0]).sum() == 3


def test_anchors_grow_with_the_batch_within_bounds() -> None:
    assert anchor_stride(4096, 128) == MIN_STRIDE
    assert anchor_stride(65_536, 128) == 128 and anchor_stride(65_536, 32) == 32
    assert anchor_stride(10**7, 128) == 128


def test_few_wealths_are_all_computed_exactly() -> None:
    wealth = np.linspace(1.0, 2.0, MIN_BRACKETED - 1)
    exact = _Counting(np.array([1.5]), np.array([]))
    bracketed_actions(exact, wealth, np.array([]))
    assert exact.asked == wealth.shape[0]


@pytest.mark.parametrize("stride", [0, -3, 2.5, True])
def test_bad_stride_is_refused(stride: object) -> None:
    with pytest.raises(ValueError, match="stride"):
        bracketed_actions(_Counting(np.array([1.0]), np.array([])), np.ones(3),
                          np.array([]), stride=stride)


class _Recorder:
    """Passes ``act`` through and keeps every year's wealths."""

    def __init__(self, policy: object) -> None:
        self.policy, self.calls = policy, []

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append((t, np.array(wealth)))
        return self.policy.act(t, wealth)


def _compare_with_exact(problem: GBWMProblem, lookahead: int, paths: int
                        ) -> tuple[int, int, float]:
    """(actions differing, actions compared, |relative mean utility difference|)."""
    network = pretrained_network()
    bracketed = bind_policy(network, problem, lookahead=lookahead)
    exact = bind_policy(network, problem, lookahead=lookahead, exact=True)
    recorder = _Recorder(bracketed)
    report = evaluate({"bracketed": recorder, "exact": exact}, problem, n_paths=paths, seed=3,
                      reference=None)
    assert max(w.shape[0] for _, w in recorder.calls) >= MIN_BRACKETED
    differing = compared = 0
    for t, wealth in recorder.calls:
        (d, p), (d_exact, p_exact) = bracketed.act(t, wealth), exact.act(t, wealth)
        differing += int(((d != d_exact) | (p != p_exact)).sum())
        compared += wealth.shape[0]
    gap = abs(report["bracketed"].mean_utility / report["exact"].mean_utility - 1.0)
    return differing, compared, gap


@pytest.mark.parametrize("lookahead", [1, 8])
def test_pretrained_policy_scores_as_the_exact_one(lookahead: int) -> None:
    differing, compared, gap = _compare_with_exact(paper_problem(4), lookahead, 12_000)
    assert differing <= 3e-4 * compared and gap < 1e-6


def test_greedy_actions_differ_from_the_exact_ones_only_at_near_ties() -> None:
    network = pretrained_network()
    problem = paper_problem(4)
    bracketed = _Recorder(bind_policy(network, problem, lookahead=1))
    exact = bind_policy(network, problem, lookahead=1, exact=True)
    evaluate({"bracketed": bracketed}, problem, n_paths=12_000, seed=3, reference=None)
    scorer = exact.scorer()
    for t, wealth in bracketed.calls:
        (d, p), (d_exact, p_exact) = bracketed.policy.act(t, wealth), exact.act(t, wealth)
        for i in np.flatnonzero((d != d_exact) | (p != p_exact)):
            goal, portfolio, _ = scorer.logits(t, wealth[i:i + 1])
            if d[i] != d_exact[i]:  # the paper family's decision is a bool: take = index 1
                margin = goal[0, int(d_exact[i])] - goal[0, int(d[i])]
            else:
                margin = portfolio[0, p_exact[i]] - portfolio[0, p[i]]
            assert 0 <= float(margin) < 0.01, (t, wealth[i], float(margin))


def test_exact_option_reaches_the_policy() -> None:
    problem = paper_problem(2)
    assert pretrained_policy(problem, exact=True).exact
    assert not pretrained_policy(problem, lookahead=1).exact


@pytest.mark.slow
@pytest.mark.parametrize("lookahead", [1, 8])
def test_bracketed_actions_differ_only_at_rare_near_ties(lookahead: int) -> None:
    # two nearly tied choices (portfolio logits 1e-4 apart; the critic's Q, which jumps
    # where a next-year wealth crosses an affordability threshold) can swap back and
    # forth on a stretch narrower than a gap; measured: at most 1.2e-4 of the actions,
    # and the same mean utility to 1e-7
    for problem in [paper_problem(16), *sample_problems(6, seed=11)]:
        differing, compared, gap = _compare_with_exact(problem, lookahead, 100_000)
        assert differing <= 3e-4 * compared and gap < 1e-5
