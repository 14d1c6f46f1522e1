"""``gbwm fine-tune PROBLEM --out DIR``: PPO from the pretrained weights on one client.

The per-client learner that starts from the shipped network
(:func:`~gbwm_sb3.pretrained.fine_tune`): a budget of trajectories (50,000 by default,
the paper's), a held-out selection that never returns a network worse than the zero-shot
one on its markets, then a score against the exact DP and the zero-shot policy on the
same simulated markets. The policy is saved as a client policy directory
(:func:`~gbwm_sb3.pretrained.client_policy.save_client_policy`) that
``gbwm advise PROBLEM --weights DIR`` and ``load_client_policy`` read.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gbwm_sb3.cli.arguments import CLIError, float_in, int_in
from gbwm_sb3.cli.checks import check_output_dir, check_path_text, check_problem
from gbwm_sb3.common.limits import MAX_PATHS, MAX_SEED, MAX_TRAJECTORIES

__all__ = ["add_fine_tune_parser", "cmd_fine_tune"]


def add_fine_tune_parser(commands: Any) -> None:
    """Register ``gbwm fine-tune`` on the ``gbwm`` sub-command parser."""
    parser = commands.add_parser(
        "fine-tune", help="PPO from the pretrained weights on one problem; save the policy",
        description="Fine-tune the pretrained policy on PROBLEM with PPO (the per-client "
                    "learner that starts from the shipped network), keep the best network on "
                    "held-out markets, score it against the exact DP and the zero-shot policy "
                    "on the same simulated markets, and save it in --out (a client policy "
                    "directory: `gbwm advise PROBLEM --weights DIR` reads it).")
    parser.add_argument("problem", metavar="PROBLEM", help="problem file or paper:NG")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--trajectories", type=int_in(1, MAX_TRAJECTORIES), default=50_000,
                        help="training budget in trajectories (default 50,000, the paper's)")
    parser.add_argument("--seconds", type=float_in(1.0, 1e6), default=None,
                        help="also stop after this much wall time (default: no time limit; "
                             "a run with a time limit depends on the machine's speed)")
    parser.add_argument("--seed", type=int_in(0, at_most=MAX_SEED), default=0,
                        help="training seed (default 0)")
    parser.add_argument("--weights", default=None, metavar="DIR",
                        help="weights to start from (default: the shipped weights; a client "
                             "policy directory of the same problem continues its training)")
    parser.add_argument("--paths", type=int_in(2, MAX_PATHS), default=20_000,
                        help="simulated markets of the final score (default 20,000)")
    parser.add_argument("--eval-seed", type=int_in(0, at_most=MAX_SEED), default=0,
                        help="seed of the scoring markets (default 0; the held-out selection "
                             "uses markets of its own)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true",
                        help="write into --out even if it exists and is not empty (a client "
                             "policy there is replaced)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=cmd_fine_tune)


def _scores(report: Any) -> dict[str, dict[str, Any]]:
    return {name: {"mean_utility": result.mean_utility, "efficiency": result.efficiency,
                   "efficiency_ci": list(result.efficiency_ci or [])}
            for name, result in report.results.items()}


def cmd_fine_tune(args: argparse.Namespace) -> int:
    """Fine-tune, score and save one client's policy."""
    problem = check_problem(args.problem)
    out = check_output_dir(args.out, args.force, "--out")
    if args.weights is not None:
        check_path_text(args.weights, "--weights", "weights directory path")

    from gbwm_sb3.common.threads import configure_torch_threads
    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.evaluation.evaluator import evaluate
    from gbwm_sb3.pretrained.client_policy import save_client_policy
    from gbwm_sb3.pretrained.fine_tuning import fine_tune, fine_tune_envelope
    from gbwm_sb3.pretrained.loading import (
        checked_policy,
        pretrained_network,
        recommended_lookahead,
    )

    weights = "" if args.weights is None else f"--weights {args.weights}: "
    try:
        pretrained_network(args.weights)
        envelope = fine_tune_envelope(args.weights)
        zero_shot = checked_policy(problem, args.weights, envelope, "fine_tune accepts",
                                   lookahead=recommended_lookahead(args.weights))
    except OSError as exc:
        raise CLIError(f"{weights}{exc}") from None
    except ValueError as exc:  # a problem outside the envelope, unreadable weights
        raise CLIError(str(exc)) from None
    configure_torch_threads()
    if not args.json:
        budget = "" if args.seconds is None else f", at most {args.seconds:g} s"
        print(f"Fine-tuning the pretrained policy on {args.problem} for "
              f"{args.trajectories:,} trajectories (seed {args.seed}{budget})")
    started = time.perf_counter()
    policy = fine_tune(problem, args.trajectories, weights=args.weights, seed=args.seed,
                       time_budget_s=args.seconds,
                       progress_bar=not (args.no_progress or args.json))
    seconds = time.perf_counter() - started
    report = evaluate({"dp": solve_dp(problem), "zero_shot": zero_shot, "fine_tuned": policy},
                      problem, n_paths=args.paths, seed=args.eval_seed)
    record = policy.fine_tune_record or {}
    evaluation = {"paths": args.paths, "seed": args.eval_seed, "scores": _scores(report)}
    save_client_policy(policy, out, overwrite=args.force,
                       metadata={"problem_spec": args.problem, "evaluation": evaluation})
    result = {"directory": str(out), "seconds": round(seconds, 1),
              "trajectories": record.get("trajectories"),
              "critic_lookahead": policy.critic_lookahead is not None, **evaluation}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    labels = {"dp": "DP (optimum)", "zero_shot": "zero-shot", "fine_tuned": "fine-tuned"}
    print(f"Trained {record.get('trajectories', 0):,} trajectories in {seconds:.1f} s; "
          f"scored on {args.paths:,} simulated markets (seed {args.eval_seed}):")
    for name, score in evaluation["scores"].items():
        low, high = score["efficiency_ci"] or (float("nan"), float("nan"))
        ci = f" [{low:.4f}, {high:.4f}]" if score["efficiency_ci"] else ""
        print(f"  {labels[name]:<13} mean utility {score['mean_utility']:.3f}, "
              f"efficiency {score['efficiency']:.4f}{ci}")
    print(f"Saved the client policy in {out} (gbwm advise {args.problem} --weights {out})")
    return 0
