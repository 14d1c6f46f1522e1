"""The two diagnostics of this folder's README, with the shipped weights.

    python docs/results/pretrained-curriculum/diagnostics.py

1. published-13 varied (W0, the second goal's cost, the frontier), 4,000 markets;
2. 16 sampler problems with 2-5 goals, as drawn and with one goal made dominant
   (``dominant_goal``), 3,000 markets each;
3. the 3-year plan of the band "2-3 goals, funding under 0.5" whose gap no run moves:
   the network, and the network's decisions with the portfolio that maximises the
   lognormal reach of the goal year's cheapest funding decision, 20,000 markets.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch as th
from scipy.special import ndtr

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.benchmark import benchmark_problem
from gbwm_sb3.pretrained.curriculum import CURRICULUM_BANDS, CURRICULUM_SEED, band_draw
from gbwm_sb3.pretrained.families import published_problem
from gbwm_sb3.pretrained.loading import bind_policy, pretrained_network
from gbwm_sb3.pretrained.mixture import dominant_goal
from gbwm_sb3.pretrained.suite import BenchmarkProblem
from gbwm_sb3.pretrained.training import PretrainConfig
from gbwm_sb3.problem.model import GBWMProblem, Goal
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, funding_ratio, sample_problem


def efficiency(problem: GBWMProblem, paths: int) -> float:
    network = pretrained_network()
    record = benchmark_problem(BenchmarkProblem("probe", "probe", problem),
                               lambda p: bind_policy(network, p, lookahead=8), paths, 0)
    return float(record["efficiency"])


def main() -> None:
    th.set_num_threads(1)
    base = published_problem(13)
    print(f"published-13: {efficiency(base, 4000):.3f}, funding {funding_ratio(base):.2f}")
    for wealth in (80.0, 90.0, 110.0, 130.0):
        problem = replace(base, initial_wealth=wealth)
        print(f"  W0 {wealth:g}: {efficiency(problem, 4000):.3f}, "
              f"funding {funding_ratio(problem):.2f}")
    for cost in (100.0, 120.0, 200.0, 300.0):
        problem = replace(base, goals=(Goal(5, 100.0, 3000.0), Goal(10, cost, 1000.0)))
        print(f"  second goal's cost {cost:g}: {efficiency(problem, 4000):.3f}")
    rng = np.random.default_rng(5)
    frontiers = [efficiency(replace(base, portfolios=sample_problem(
        rng, DEFAULT_ENVELOPE).portfolios), 4000) for _ in range(5)]
    print("  sampler frontiers: " + ", ".join(f"{e:.3f}" for e in frontiers))

    rng = np.random.default_rng(123)
    plain, dominant = [], []
    while len(plain) < 16:
        problem = sample_problem(rng, DEFAULT_ENVELOPE)
        if not 2 <= len(problem.goals) <= 5:
            continue
        made = dominant_goal(problem, rng)
        plain.append(efficiency(problem, 3000))
        dominant.append(efficiency(made, 3000))
    print(f"sampler, 2-5 goals: as drawn {np.mean(plain):.4f} (lowest {min(plain):.3f}), "
          f"one goal dominant {np.mean(dominant):.4f} (lowest {min(dominant):.3f})")
    entry_reach()


class EntryReachPortfolio:
    """The network's decisions; before the goal year ``year``, the portfolio with the
    highest lognormal probability of reaching ``entry`` (the year's cheapest funding
    decision) by then."""

    def __init__(self, policy: object, problem: GBWMProblem, year: int, entry: float) -> None:
        self.policy, self.year, self.entry = policy, year, entry
        self.mu = problem.portfolios.mean_array
        self.sigma = problem.portfolios.volatility_array

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        decision, portfolio = self.policy.act(t, wealth)  # type: ignore[attr-defined]
        if t < self.year:
            tau = self.year - t
            z = (np.log(np.maximum(wealth, 1e-12)[:, None] / self.entry)
                 + (self.mu - self.sigma ** 2 / 2) * tau) / (self.sigma * math.sqrt(tau))
            portfolio = ndtr(z).argmax(axis=1)
        return decision, portfolio


def entry_reach() -> None:
    draw = PretrainConfig(mixture="blend").problem_draw()
    band = 3  # goals 2-3, funding under 0.5
    rng = np.random.default_rng(np.random.SeedSequence([0, CURRICULUM_SEED, band]))
    problem = [band_draw(draw, CURRICULUM_BANDS[band], rng) for _ in range(4)][3]
    assert problem is not None and problem.horizon == 3
    entry = min(d.cost for d in problem.decisions(3) if d.utility > 0)
    network = bind_policy(pretrained_network(), problem, lookahead=1)
    report = evaluate({"dp": solve_dp(problem), "network": network,
                       "entry_reach": EntryReachPortfolio(network, problem, 3, entry)},
                      problem, n_paths=20_000, seed=0)
    print(f"3-year plan, W0 {problem.initial_wealth:.2f}, cheapest funding decision "
          f"{entry:.2f}: network {report['network'].efficiency:.4f}, with the entry-reach "
          f"portfolio {report['entry_reach'].efficiency:.4f}")


if __name__ == "__main__":
    main()
