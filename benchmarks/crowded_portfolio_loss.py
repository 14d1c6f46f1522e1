"""Where a per-client policy loses against the optimum: goal decisions or portfolios, by year.

    nice -n 10 .venv/bin/python benchmarks/crowded_portfolio_loss.py --family household \\
        --seed 1 [--rows]

Trains the ``tuned`` preset at the paper's budget on a problem of ``bench_crowded.py``
(``--rows``: with a portfolio row per decision, ``portfolio_given_goal=True``) and scores
on 50,000 common markets (seed 1), against the DP: the policy; its goal decisions with
the DP's portfolio for the wealth each decision leaves (every year); the same in one year
only (the policy's portfolio elsewhere), for each year; the DP's goal decisions with the
policy's portfolios. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json

import bench_crowded
import numpy as np

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.evaluation.strategies import Hybrid, SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model


class OptimalPortfolioInYear:
    """``policy`` in every year but ``year``, where the DP picks the portfolio for the
    wealth the policy's goal decision leaves."""

    def __init__(self, policy: SB3Policy, dp, year: int) -> None:
        self.policy, self.year = policy, year
        self.fixed = Hybrid(policy, dp)

    def reset(self) -> None:
        self.fixed.reset()

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (self.fixed if t == self.year else self.policy).act(t, wealth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", choices=bench_crowded.FAMILIES, default="household")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", action="store_true",
                        help="a portfolio row per decision (portfolio_given_goal=True)")
    args = parser.parse_args()
    problem = bench_crowded.GENERATORS[args.family](args.index)
    model = make_preset_model("tuned", problem=problem, seed=args.seed,
                              portfolio_given_goal=args.rows)
    learn_paper(model, 50_000)
    dp, policy = solve_dp(problem), SB3Policy(model, problem)
    policies = {"dp": dp, "policy": policy, "optimal portfolios": Hybrid(policy, dp),
                "optimal goal decisions": Hybrid(dp, policy)}
    policies.update({f"optimal portfolio in year {year}": OptimalPortfolioInYear(policy, dp, year)
                     for year in range(problem.horizon)})
    report = evaluate(policies, problem, n_paths=50_000, seed=1)
    print(json.dumps({"family": args.family, "index": args.index, "seed": args.seed,
                      "rows": args.rows,
                      **{name: round(float(report[name].efficiency or 0.0), 4)
                         for name in policies if name != "dp"}}))


if __name__ == "__main__":
    main()
