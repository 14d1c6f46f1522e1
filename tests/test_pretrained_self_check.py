"""``lookahead="auto"``: the per-client choice between the network's own decisions and its
critic's lookahead, and of a portfolio shift, made on simulated markets."""

from __future__ import annotations

import numpy as np
import pytest

from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained import LookaheadPolicy, PretrainedPolicy, fine_tune, pretrained_policy
from gbwm_sb3.pretrained.families import family
from gbwm_sb3.pretrained.loading import bind_policy, pretrained_network
from gbwm_sb3.pretrained.lookahead import DEFAULT_CANDIDATES
from gbwm_sb3.pretrained.self_check import SELF_CHECK_PATHS, SELF_CHECK_SEED, self_checked
from gbwm_sb3.problem.model import paper_problem

PATHS = 1000


def _family(name: str):
    family_name, seed = name.rsplit("-", 1)
    return family(family_name).problem(int(seed))


# crowded_years-11: the network's own decisions do better (193.5 against 185.0 on the
# self-check's first 1,000 markets); crowded_years-07: the lookahead does (236.3 / 229.1)
@pytest.mark.parametrize(("name", "kept"), [("crowded_years-11", 1),
                                            ("crowded_years-07", DEFAULT_CANDIDATES)])
def test_the_better_policy_on_the_self_check_markets_is_kept(name: str, kept: int) -> None:
    problem = _family(name)
    network = pretrained_network()
    chosen = self_checked(network, problem, DEFAULT_CANDIDATES, paths=PATHS, shifts=())
    check = chosen.self_check
    assert check is not None and check.chosen == kept and check.paths == PATHS
    assert check.shift == 0 and check.shift_utilities == ((0, max(check.own,
                                                                   check.lookahead)),)
    assert isinstance(chosen, LookaheadPolicy) == (kept > 1)
    # the two scores are those of the two policies on the self-check's own markets
    report = evaluate({"own": bind_policy(network, problem, lookahead=1),
                       "ahead": bind_policy(network, problem, lookahead=DEFAULT_CANDIDATES)},
                      problem, n_paths=PATHS, seed=SELF_CHECK_SEED, reference=None)
    assert check.own == report["own"].mean_utility
    assert check.lookahead == report["ahead"].mean_utility
    assert (check.lookahead > check.own) == (kept > 1)
    # the kept policy acts as the plain policy of that kind
    wealth = np.linspace(0.3, 2.0, 9) * problem.initial_wealth
    plain = bind_policy(network, problem, lookahead=kept)
    for got, want in zip(chosen.act(1, wealth), plain.act(1, wealth), strict=True):
        np.testing.assert_array_equal(got, want)


# dominated_levels-56: the network holds portfolios too cautious for this plan (a shift of
# +2 scores 0.933 of the optimum against 0.916 unshifted on 20,000 other markets)
@pytest.mark.parametrize("name", ["dominated_levels-56", "crowded_years-11"])
def test_the_best_portfolio_shift_on_the_self_check_markets_is_kept(name: str) -> None:
    problem = _family(name)
    network = pretrained_network()
    chosen = self_checked(network, problem, DEFAULT_CANDIDATES, paths=PATHS,
                          shifts=(-1, 1, 2))
    check = chosen.self_check
    assert check is not None
    scores = dict(check.shift_utilities)
    assert list(scores) == [0, -1, 1, 2]
    assert scores[0] == max(check.own, check.lookahead)
    # every score is that of the kept way of acting, shifted, on the same markets
    policies = {str(s): bind_policy(network, problem, lookahead=check.chosen)
                for s in (-1, 1, 2)}
    for s, policy in policies.items():
        policy.portfolio_shift = int(s)
    report = evaluate(policies, problem, n_paths=PATHS, seed=SELF_CHECK_SEED, reference=None)
    for s in (-1, 1, 2):
        assert scores[s] == report[str(s)].mean_utility
    assert check.shift == max(scores, key=scores.__getitem__)
    assert chosen.portfolio_shift == check.shift
    if name == "dominated_levels-56":
        assert check.shift > 0
    # the kept policy acts as the unshifted one with its portfolios moved along the frontier
    if check.chosen == 1:
        wealth = np.linspace(0.3, 2.0, 9) * problem.initial_wealth
        plain = bind_policy(network, problem, lookahead=1)
        decision, portfolio = plain.act(1, wealth)
        got_decision, got_portfolio = chosen.act(1, wealth)
        np.testing.assert_array_equal(got_decision, decision)
        np.testing.assert_array_equal(
            got_portfolio, np.clip(portfolio + check.shift, 0, problem.num_portfolios - 1))


def test_auto_is_reproducible_and_recorded_on_the_policy() -> None:
    problem = paper_problem(4)
    first = pretrained_policy(problem, lookahead="auto")
    second = pretrained_policy(problem, lookahead="auto")
    assert first.self_check == second.self_check
    assert first.self_check is not None and first.self_check.paths == SELF_CHECK_PATHS
    assert first.self_check.chosen in (1, first.self_check.candidates)
    plain = pretrained_policy(problem)
    assert plain.self_check is None
    # sampling has no lookahead to choose: the network's stochastic policy
    sampled = pretrained_policy(problem, lookahead="auto", deterministic=False)
    assert type(sampled) is PretrainedPolicy and not sampled.deterministic
    assert sampled.self_check is None


def test_bad_lookahead_values_are_refused_where_they_enter() -> None:
    problem = paper_problem(2)
    with pytest.raises(ValueError, match=r"lookahead must be an integer in 1..64 .* or "
                                         r"'auto', got 'sometimes'"):
        pretrained_policy(problem, lookahead="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lookahead must be an integer in 1..64, got 'auto'"):
        fine_tune(problem, 10, lookahead="auto")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="candidates must be an integer in 2..64, got 1"):
        self_checked(pretrained_network(), problem, 1)
    with pytest.raises(ValueError, match="paths must be an integer in 2..10,000,000, got 0"):
        self_checked(pretrained_network(), problem, 8, paths=0)
    with pytest.raises(ValueError, match="shifts must be an integer in -3..3, got 4"):
        self_checked(pretrained_network(), problem, 8, shifts=(1, 4))
    with pytest.raises(ValueError, match="shifts must be a sequence of integers, got 2"):
        self_checked(pretrained_network(), problem, 8, shifts=2)  # type: ignore[arg-type]


def test_cli_advise_with_auto_reports_the_choice(capsys) -> None:
    import json

    from gbwm_sb3.cli import main

    assert main(["advise", "paper:4", "--lookahead", "auto", "--json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    check = pretrained_policy(paper_problem(4), lookahead="auto").self_check
    assert check is not None
    assert advice["lookahead"] == check.chosen
    assert advice["self_check"] == {"own_mean_utility": check.own,
                                    "lookahead_mean_utility": check.lookahead,
                                    "portfolio_shift": check.shift,
                                    "shift_mean_utilities": {
                                        str(k): v for k, v in check.shift_utilities},
                                    "markets": SELF_CHECK_PATHS}
    with pytest.raises(SystemExit):
        main(["advise", "paper:4", "--lookahead", "never"])
    assert "--lookahead: must be an integer in [1, 64] or 'auto', got 'never'" \
        in capsys.readouterr().err
