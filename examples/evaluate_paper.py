"""Figure 2 of the paper for one NG: RL, DP and the benchmark strategies on common draws.

Trains the documented PPO configuration (``paper_ppo``, 50,000 trajectories) on
the paper's problem with ``--num-goals`` goals, or loads a model directory
written by ``gbwm_sb3.model_io.save_model`` (``--load DIR``) or an SB3 zip
(``--load model.zip``). Solves the exact optimum by dynamic programming and
scores every strategy on the same 100,000 simulated markets:

* DP: the optimum; RL: the trained policy (argmax of its final stochastic policy);
* greedy: take every goal when affordable, RL's portfolios;
* buy-and-hold: portfolio #8 throughout, coin-flip goal taking;
* random: a random portfolio each year, coin-flip goal taking;
* the two hybrids: DP portfolios + RL goals, RL portfolios + DP goals.

    python examples/evaluate_paper.py [--num-goals 4] [--seed 0] [--load DIR] [--paths 100000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gbwm_sb3 import paper_problem, solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.evaluation.strategies import BuyAndHold, GreedyGoals, Hybrid, RandomPolicy, SB3Policy

# Figure 2 of the paper (efficiency vs DP), NG = 1, 2, 4, 8, 16
PAPER_FIGURE_2 = {
    "greedy (RL portfolios)": (0.974, 0.930, 0.935, 0.926, 0.903),
    "buy-and-hold #8": (0.69, 0.76, 0.72, 0.69, 0.68),
    "random": (0.66, 0.73, 0.70, 0.68, 0.67),
    "DP portfolios + RL goals": (1.0, 0.986, 0.991, 0.994, 0.991),
    "RL portfolios + DP goals": (0.973, 0.955, 0.969, 0.979, 0.984),
    "RL": (0.974, 0.948, 0.961, 0.978, 0.978),  # Table I, mean of 30 runs
}
NUM_GOALS = (1, 2, 4, 8, 16)


def load_or_train(args: argparse.Namespace, problem):
    if args.load is None:
        from gbwm_sb3.ppo.presets import learn_paper, paper_ppo

        model = paper_ppo(problem=problem, seed=args.seed)
        start = time.perf_counter()
        learn_paper(model, n_trajectories=args.trajectories)
        print(f"trained {args.trajectories:,} trajectories in {time.perf_counter() - start:.1f} s")
        return model, problem
    path = Path(args.load)
    if path.is_dir():
        from gbwm_sb3.model_io import load_model_safely

        model, stored = load_model_safely(path)
        if stored != problem:
            print("note: evaluating on the problem stored with the model")
        return model, stored
    from stable_baselines3 import PPO

    return PPO.load(path, device="cpu"), problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-goals", type=int, default=4, choices=NUM_GOALS)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--trajectories", type=int, default=50_000)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--eval-seed", type=int, default=12345)
    parser.add_argument("--load", default=None, help="model directory or SB3 .zip to evaluate")
    parser.add_argument("--json", default=None, help="also write the report as JSON here")
    args = parser.parse_args()
    if args.trajectories < 1:
        parser.error(f"--trajectories must be >= 1, got {args.trajectories}")
    if args.paths < 2:
        parser.error(f"--paths must be >= 2, got {args.paths}")

    model, problem = load_or_train(args, paper_problem(args.num_goals))
    start = time.perf_counter()
    dp = solve_dp(problem)
    print(f"DP optimum {dp.expected_utility:.3f} (solved in {time.perf_counter() - start:.2f} s)")
    rl = SB3Policy(model, problem)
    policies = {
        "DP": dp,
        "RL": rl,
        "greedy (RL portfolios)": GreedyGoals(rl),
        "buy-and-hold #8": BuyAndHold(portfolio=7, seed=1),
        "random": RandomPolicy(problem, seed=2),
        "DP portfolios + RL goals": Hybrid(goals_from=rl, portfolios_from=dp),
        "RL portfolios + DP goals": Hybrid(goals_from=dp, portfolios_from=rl),
    }
    start = time.perf_counter()
    report = evaluate(policies, problem, n_paths=args.paths, seed=args.eval_seed)
    print(f"evaluated in {time.perf_counter() - start:.1f} s\n")
    print(report)
    column = NUM_GOALS.index(args.num_goals) if problem == paper_problem(args.num_goals) else None
    if column is not None:
        print(f"\n| strategy | efficiency | paper (NG = {args.num_goals}) |\n|---|---|---|")
        for name, result in report.results.items():
            paper = PAPER_FIGURE_2.get(name)
            paper_text = "1" if name == "DP" else (f"{paper[column]:g}" if paper else "")
            print(f"| {name} | {result.efficiency:.4f} | {paper_text} |")
    if args.json:
        Path(args.json).write_text(report.to_json())


if __name__ == "__main__":
    main()
