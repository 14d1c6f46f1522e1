"""Seeded training is reproducible: the same seed gives the same trained model and the
same evaluation, on any x86-64 CPU.

Floats after many training steps depend on the CPU's instruction set (AVX-512, AVX2 and
the portable path sum in different orders), so training is compared with a second run in
the same process; recorded values are pinned only where they survive every instruction
set (checked with ``ATEN_CPU_CAPABILITY=default``, ``avx2`` and ``avx512``): the seeded
initial weights, the DP's evaluation and the paper preset's short training run, recorded
with gbwm-sb3 0.1 (before the package layout changed). The tuned cases override the
minibatch (400) so that they follow the 0.1 code path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gbwm_sb3 import SB3Policy, evaluate, learn_paper, paper_problem, solve_dp
from gbwm_sb3.ppo import paper_ppo, tuned_ppo

CASES = ("paper", "tuned", "tuned+entropy_decay")
# paper_problem(2), seed 7, 200 trajectories per rollout, minibatch 400: the seeded initial
# weights (|w| summed; equal to 1e-7 relative on every instruction set).
INITIAL_PARAM_ABS = {"paper": 1269.68972, "tuned": 1274.41586}
# Recorded with 0.1 after 600 trajectories of training; evaluation on 5,000 paths, seed 1.
# The paper preset's values agree to 1e-7 across instruction sets (the tuned preset's
# drift by 0.03% in the weights and 1% in utility, so they are compared within a run).
RECORDED_PAPER = dict(param_sum=7.5522671537910355, param_abs=1547.9672737426736,
                      first=[-0.41630345582962036, 0.0686359778046608, -0.25355997681617737,
                             0.23088152706623077, 0.12162231653928757], rl_utility=25.5556)
DP_UTILITY = 34.7072


def _model(case: str, seed: int = 7):
    kwargs = dict(problem=paper_problem(2), seed=seed, n_trajectories_per_rollout=200,
                  batch_size=400)
    if case == "paper":
        return paper_ppo(**kwargs)
    if case == "tuned":
        return tuned_ppo(**kwargs)
    return tuned_ppo(**kwargs, ent_coef_final=0.001)


def _train(case: str, seed: int = 7):
    model = _model(case, seed)
    learn_paper(model, n_trajectories=600)
    return paper_problem(2), model


def _parameters(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten().double() for p in model.policy.parameters()])


@pytest.mark.parametrize("case", CASES)
def test_same_seed_trains_the_same_model(case: str) -> None:
    problem, first = _train(case)
    _, second = _train(case)
    assert torch.equal(_parameters(first), _parameters(second))
    reports = [evaluate({"RL": SB3Policy(model, problem)}, problem, n_paths=2000, seed=1)
               for model in (first, second)]
    assert reports[0]["RL"].mean_utility == reports[1]["RL"].mean_utility
    _, other = _train(case, seed=8)
    assert not torch.equal(_parameters(first), _parameters(other))
    if case == "tuned+entropy_decay":
        assert first.ent_coef == pytest.approx(0.001)


@pytest.mark.parametrize("case", ["paper", "tuned"])
def test_seeded_initial_weights_are_the_recorded_ones(case: str) -> None:
    params = _parameters(_model(case))
    assert float(params.abs().sum()) == pytest.approx(INITIAL_PARAM_ABS[case], rel=1e-6)


def test_paper_preset_training_matches_the_recorded_model() -> None:
    problem, model = _train("paper")
    params = _parameters(model)
    assert float(params.abs().sum()) == pytest.approx(RECORDED_PAPER["param_abs"], rel=1e-4)
    assert float(params.sum()) == pytest.approx(RECORDED_PAPER["param_sum"], rel=1e-3)
    np.testing.assert_allclose(params[:5].numpy(), RECORDED_PAPER["first"], rtol=1e-3,
                               atol=1e-5)
    report = evaluate({"DP": solve_dp(problem), "RL": SB3Policy(model, problem)}, problem,
                      n_paths=5000, seed=1)
    assert report["DP"].mean_utility == pytest.approx(DP_UTILITY, rel=1e-6)
    assert report["RL"].mean_utility == pytest.approx(RECORDED_PAPER["rl_utility"], rel=2e-3)
