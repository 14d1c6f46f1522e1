"""Pretrain the universal policy with the DP as teacher (imitation of the optimal decisions).

    python examples/pretrain_teacher.py --out runs/distill            # 240 rounds, seed 0
    python examples/pretrain_teacher.py --out runs/distill            # again: resumes
    python examples/pretrain_teacher.py --out runs/distill --max-rounds 50   # 50 more, then stop
    python examples/pretrain_teacher.py --out runs/curriculum --rounds 600 --hard-share 0.5
    python examples/pretrain_teacher.py --out runs/distill --export DIR   # ship the best round

Each round draws fresh problems of the teacher mixture (``gbwm_sb3.pretrained.mixture``),
solves them exactly, simulates the network's own paths and trains it towards the DP's
decisions, portfolios and values (``gbwm_sb3.pretrained.distillation``). ``--start
ppo`` (default) continues from the PPO-pretrained weights, ``--start shipped`` from the
shipped weights (PPO refined by imitation), ``--start
scratch`` from a fresh network (pure imitation), ``--start DIR`` from the weights in
directory DIR (for example an earlier run's ``best/``). ``best/`` holds the weights with the
best validation score, ``final/`` those of the last round, ``stages/`` every validated
round's. One PyTorch thread; the same seed and settings give the same weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gbwm_sb3.cli.arguments import float_in, int_in
from gbwm_sb3.pretrained.distillation import DistillConfig, distill, export_weights
from gbwm_sb3.pretrained.mixture import MIXTURES


def main(argv: list[str] | None = None) -> int:
    defaults = DistillConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/distill"),
                        help="run directory (checkpoint, state.json, best/, final/)")
    parser.add_argument("--seed", type=int_in(0), default=defaults.seed)
    parser.add_argument("--rounds", type=int_in(1), default=defaults.rounds)
    parser.add_argument("--start", default=defaults.start, metavar="{ppo,shipped,scratch,DIR}",
                        help="continue from the PPO weights, the shipped ones or those in "
                             "directory DIR (for example an earlier run's best/), or start "
                             "from a fresh network (pure imitation)")
    parser.add_argument("--problems-per-round", type=int_in(1),
                        default=defaults.problems_per_round)
    parser.add_argument("--epochs", type=int_in(1, 1000), default=defaults.epochs,
                        help="passes over each round's labelled states")
    parser.add_argument("--learning-rate", type=float_in(1e-12, 1.0),
                        default=defaults.learning_rate)
    parser.add_argument("--hard-share", type=float_in(0.0, 1.0), default=defaults.hard_share,
                        help="share of each round's problems replayed from the pool of those "
                             "the network is furthest from the optimum on (curriculum; 0: "
                             "every problem fresh)")
    parser.add_argument("--mixture", choices=tuple(MIXTURES), default=defaults.mixture,
                        help="problems to teach on: the teacher mixture (horizons to 60), "
                             "the wide one (the acceptance envelope: horizons to 100, 60 "
                             "goals, flat frontiers), the blend (half sampler, half wide) "
                             ", dominant (the blend with one goal worth most of the plan "
                             "in a third of the draws), few_goals (the blend with a third "
                             "of the draws underfunded plans of 1-4 goals) or near_ties "
                             "(few_goals with a third of the draws' partial levels worth "
                             "nearly as much as the full level, or more) or underfunded "
                             "(the wide mixture at funding ratios 0.1-0.5 only, a third "
                             "of it plans of 1-4 goals)")
    parser.add_argument("--entry-reach", action="store_true",
                        help="the portfolio head also reads the reach of the next goal "
                             "year's cheapest and best-value decisions (new inputs start at "
                             "zero with --start ppo; the shipped weights read them)")
    parser.add_argument("--decision-margins", action="store_true",
                        help="the goal head also reads what each decision adds over the "
                             "year's best decision that costs no more (utility gain, extra "
                             "cost, their ratio; new inputs start at zero with a start "
                             "that does not read them)")
    parser.add_argument("--decision-reach", action="store_true",
                        help="the goal head also reads what the next goal year is still "
                             "worth after each decision (its utility times the best "
                             "probability of reaching its full and its cheapest cost; new "
                             "inputs start at zero with a start that does not read them)")
    parser.add_argument("--width", type=int_in(1, 1024), default=defaults.width,
                        help="hidden units of the actor's embedding layers and scorers "
                             "(the shipped network's: 64; another width needs --start "
                             "scratch)")
    parser.add_argument("--validate-every", type=int_in(1), default=defaults.validate_every)
    parser.add_argument("--validation-problems", type=int_in(0, 1000),
                        default=defaults.validation_problems,
                        help="validation problems from the sampler's validation set")
    parser.add_argument("--validation-mixture", type=int_in(0, 1000),
                        default=defaults.validation_mixture,
                        help="validation problems drawn from the run's mixture")
    parser.add_argument("--export", type=Path, default=None, metavar="DIR",
                        help="write the best round's weights to DIR, ready to ship (the "
                             "default lookahead chosen on the validation problems)")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --export: replace weights already in DIR")
    parser.add_argument("--accepted-from", type=Path, default=None, metavar="WEIGHTS",
                        help="with --export: the acceptance envelope of the weights in "
                             "directory WEIGHTS (default: the start's)")
    parser.add_argument("--max-rounds", type=int_in(0), default=None,
                        help="stop after this many rounds in this call (resume later)")
    args = parser.parse_args(argv)
    try:
        config = DistillConfig(seed=args.seed, rounds=args.rounds, start=args.start,
                               problems_per_round=args.problems_per_round,
                               learning_rate=args.learning_rate, hard_share=args.hard_share,
                               epochs=args.epochs,
                               validate_every=args.validate_every, mixture=args.mixture,
                               validation_problems=args.validation_problems,
                               validation_mixture=args.validation_mixture,
                               entry_reach=args.entry_reach,
                               decision_margins=args.decision_margins,
                               decision_reach=args.decision_reach, width=args.width)
        state = distill(config, args.out, max_rounds=args.max_rounds)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    best = state.get("best")
    if best:
        print(f"best: round {best['round']}, validation mean {best['validation_mean']:.4f} "
              f"(start {state['start_validation']['mean']:.4f}); weights in {args.out / 'best'}")
    if args.export is not None and state["round"] >= config.rounds:
        command = " ".join(["python examples/pretrain_teacher.py",
                            *(sys.argv[1:] if argv is None else argv)])
        try:
            record = export_weights(args.out, args.export, command=command,
                                    overwrite=args.overwrite, accepted_from=args.accepted_from)
        except (ValueError, FileExistsError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"exported round {record['round']} to {args.export} (validation by lookahead: "
              f"{record['lookahead_validation']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
