"""``portfolio_shift``: the pretrained policy's portfolios moved along the frontier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gbwm_sb3.pretrained import LookaheadPolicy, PretrainedPolicy
from gbwm_sb3.pretrained.client_policy import load_client_policy, save_client_policy
from gbwm_sb3.pretrained.families import family
from gbwm_sb3.pretrained.loading import pretrained_network
from gbwm_sb3.problem.model import paper_problem


def _problems():
    return [paper_problem(4), family("dominated_levels").problem(3),
            family("crowded_years").problem(2)]


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("shift", [-2, 1, 3])
def test_a_shift_moves_every_greedy_portfolio_and_nothing_else(index: int, shift: int) -> None:
    problem = _problems()[index]
    network = pretrained_network()
    plain = PretrainedPolicy(network, problem)
    moved = PretrainedPolicy(network, problem, portfolio_shift=shift)
    top = problem.num_portfolios - 1
    wealth = np.geomspace(0.05, 4.0, 400) * problem.initial_wealth
    for t in range(problem.horizon):
        decision, portfolio = plain.act(t, wealth)
        got_decision, got_portfolio = moved.act(t, wealth)
        np.testing.assert_array_equal(got_decision, decision)
        np.testing.assert_array_equal(got_portfolio, np.clip(portfolio + shift, 0, top))
    # advice holds the portfolio the policy acts with; the odds stay the network's
    for w in wealth[::80]:
        advice, plain_advice = moved.advise(1, float(w)), plain.advise(1, float(w))
        assert advice.portfolio == int(moved.act(1, np.array([w]))[1][0])
        assert advice.portfolio_probabilities == plain_advice.portfolio_probabilities


def test_the_lookahead_values_each_candidate_with_the_portfolio_it_would_hold() -> None:
    problem = family("crowded_years").problem(2)
    network = pretrained_network()
    plain = LookaheadPolicy(network, problem, candidates=4)
    moved = LookaheadPolicy(network, problem, candidates=4, portfolio_shift=2)
    wealth = np.geomspace(0.3, 3.0, 50) * problem.initial_wealth
    year = next(t for t in range(problem.horizon) if len(problem.decisions(t)) > 2)
    candidates, portfolios, _ = plain.decision_values(year, wealth)
    got_candidates, got_portfolios, got_q = moved.decision_values(year, wealth)
    np.testing.assert_array_equal(got_candidates, candidates)
    np.testing.assert_array_equal(got_portfolios,
                                  np.clip(portfolios + 2, 0, problem.num_portfolios - 1))
    # each Q is that of the shifted portfolio: a policy holding those portfolios unshifted
    rows = np.arange(wealth.shape[0])
    best = got_q.argmax(axis=1)
    decision, portfolio = moved.act(year, wealth)
    np.testing.assert_array_equal(decision, got_candidates[rows, best])
    np.testing.assert_array_equal(portfolio, got_portfolios[rows, best])


def test_bad_shifts_are_refused_where_they_enter() -> None:
    problem = paper_problem(2)
    network = pretrained_network()
    with pytest.raises(ValueError, match=r"portfolio_shift must be an integer in -3..3, got 4"):
        PretrainedPolicy(network, problem, portfolio_shift=4)
    with pytest.raises(ValueError, match=r"portfolio_shift must be an integer in -3..3, got 1.0"):
        LookaheadPolicy(network, problem, portfolio_shift=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="portfolio_shift must be 0 for a sampling policy"):
        PretrainedPolicy(network, problem, deterministic=False, portfolio_shift=1)


@pytest.mark.parametrize("kind", [PretrainedPolicy, LookaheadPolicy])
def test_a_saved_client_policy_keeps_its_shift(kind: type, tmp_path: Path) -> None:
    problem = family("dominated_levels").problem(3)
    policy = kind(pretrained_network(), problem, portfolio_shift=-1)
    save_client_policy(policy, tmp_path / "client")
    loaded = load_client_policy(tmp_path / "client", problem)
    assert type(loaded) is kind and loaded.portfolio_shift == -1
    wealth = np.geomspace(0.2, 3.0, 60) * problem.initial_wealth
    for t in range(problem.horizon):
        for got, want in zip(loaded.act(t, wealth), policy.act(t, wealth), strict=True):
            np.testing.assert_array_equal(got, want)


def test_gbwm_advise_says_the_portfolio_was_moved(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    from gbwm_sb3.cli import main

    problem = paper_problem(4)
    command = ["advise", "paper:4", "--year", "3", "--wealth", "80"]
    assert main(command) == 0  # the network holds the safest portfolio here
    out = capsys.readouterr().out
    assert "portfolio: #1 of 15" in out and "portfolio shift" not in out
    for shift, said in ((2, "#3 of 15 (mean"), (2, "2 places riskier than the network's "
                                                   "choice (portfolio shift +2)"),
                        (-2, "the network's choice (at the frontier's end) (portfolio "
                             "shift -2)")):
        client = tmp_path / f"client{shift}"
        if not client.exists():
            save_client_policy(PretrainedPolicy(pretrained_network(), problem,
                                                portfolio_shift=shift), client)
        assert main([*command, "--weights", str(client)]) == 0
        assert said in capsys.readouterr().out
