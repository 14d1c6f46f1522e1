"""A problem of the general class end to end: solve, train, score against DP, plot.

Loads a problem file with several goals in a year, goals with levels and yearly
savings (default ``examples/problems/family_plan.yaml``), solves it exactly by dynamic
programming, trains the ``tuned`` preset at the paper's budget of 50,000 trajectories,
scores both on the same simulated markets (success per goal and per level) and writes
the policy heatmaps and the wealth fan to ``--out``.

    python examples/general_problem.py [--problem FILE] [--seed 0] [--trajectories 50000]
        [--paths 100000] [--out general_plots]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gbwm_sb3 import load_problem, solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.evaluation.strategies import GreedyGoals, SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model

FAMILY_PLAN = Path(__file__).resolve().parent / "problems" / "family_plan.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default=str(FAMILY_PLAN))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trajectories", type=int, default=50_000)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--out", default="general_plots")
    args = parser.parse_args()

    problem = load_problem(args.problem)
    print(f"{args.problem}: T = {problem.horizon}, {len(problem.goals)} goals, "
          f"up to {problem.max_decisions} decisions in a year, "
          f"savings {sum(problem.infusions):,.0f} in total")
    for t in sorted(set(problem.goal_times)):
        if len(problem.decisions(t)) > 2:
            names = [g.name or f"t={g.time}" for g in problem.goals_at(t)]
            print(f"  year {t}: goals {names}; decisions (levels per goal): "
                  f"{[d.levels for d in problem.decisions(t)]}")

    dp = solve_dp(problem)
    print(f"DP optimum: expected utility {dp.expected_utility:.3f} of "
          f"{problem.total_utility:g} ({dp.solve_seconds:.2f} s)")

    start = time.perf_counter()
    model = make_preset_model("tuned", problem=problem, seed=args.seed)
    learn_paper(model, n_trajectories=args.trajectories)
    print(f"Trained the tuned preset for {args.trajectories:,} trajectories "
          f"in {time.perf_counter() - start:.0f} s")

    rl = SB3Policy(model, problem)
    report = evaluate({"DP": dp, "RL": rl, "greedy": GreedyGoals(dp)}, problem,
                      n_paths=args.paths, seed=1)
    print(report)
    print("\nSuccess per goal and level (DP | RL):")
    for key in report.goal_keys():
        levels = " ".join(f"L{k}: {a:.1%} | {b:.1%}" for k, (a, b) in enumerate(
            zip(report["DP"].level_success[key], report["RL"].level_success[key],
                strict=True), start=1))
        print(f"  {key:20s} {levels}")

    from gbwm_sb3 import plots

    out = Path(args.out)
    plots.save_figure(plots.plot_policy_heatmaps(problem, {"dp": dp, "rl": rl}),
                      out / "policy_heatmaps", ("png",))
    plots.save_figure(plots.plot_wealth_fan(problem, rl, n_paths=20_000, name="rl"),
                      out / "wealth_fan_rl", ("png",))
    print(f"\nPlots in {out}/")


if __name__ == "__main__":
    main()
