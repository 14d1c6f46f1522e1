"""Pretrain the universal GBWM policy on problems drawn from the default envelope.

    python examples/pretrain.py --out runs/pretrain            # all 38 stages (seed 0)
    python examples/pretrain.py --out runs/pretrain            # again: resumes where it stopped
    python examples/pretrain.py --out runs/entry/s2 --seed 2 --until-stage 16 \
        --validation-problems 24 --validation-paper-like 6 --validation-lookahead 4 \
        --export src/gbwm_sb3/pretrained/ppo_weights    # how the PPO weights were made

Each stage ends with a checkpoint, ``state.json`` and a validation score (the policy
vs the DP optimum on held-out problems: 12 sampled ones and the greedy policy by
default); ``best/`` and ``final/`` hold the weights in the safe format.
``--tensorboard DIR`` writes TensorBoard logs (rollout, training and validation
curves). ``--max-stages N`` stops after N more stages, ``--until-stage N`` once the run
has N stages (resume later with the same command). ``--seeds 1 2 [...]`` runs several
seeds side by side (``OUT/seed-S``; ``--engine ray [--address ...]`` on a Ray cluster)
and ``--export`` takes the best of them by validation:

    python examples/pretrain.py --out runs/seeds --seeds 1 2 --until-stage 16 \
        --validation-problems 24 --validation-paper-like 6 --validation-lookahead 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from gbwm_sb3.cli.arguments import float_in, int_in
from gbwm_sb3.experiments.engines import ENGINES
from gbwm_sb3.pretrained.seeds import best_seed, pretrain_seeds
from gbwm_sb3.pretrained.training import (
    TRAINING_MIXTURES,
    PretrainConfig,
    pretrain,
)


def main(argv: list[str] | None = None) -> int:
    defaults = PretrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/pretrain"),
                        help="run directory (checkpoints, state.json, best/, final/)")
    parser.add_argument("--seed", type=int_in(0), default=defaults.seed)
    parser.add_argument("--seeds", type=int_in(0), nargs="+", default=None, metavar="S",
                        help="run these seeds side by side instead of --seed, each in "
                             "OUT/seed-S, and export the best by validation")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="with --seeds: the local process pool (default) or a Ray cluster")
    parser.add_argument("--workers", type=int_in(0), default=None,
                        help="with --seeds: seeds run at once (default: one per core, or the "
                             "Ray cluster's CPUs; 0: one after another in this process)")
    parser.add_argument("--address", default=None,
                        help="with --engine ray: the cluster ('auto', HOST:PORT; default: a "
                             "local cluster started for the run)")
    parser.add_argument("--total-timesteps", type=int_in(1),
                        default=defaults.total_timesteps)
    parser.add_argument("--stage-timesteps", type=int_in(1),
                        default=defaults.stage_timesteps,
                        help="steps between checkpoints (a multiple of n_envs * n_steps)")
    parser.add_argument("--n-envs", type=int_in(1), default=defaults.n_envs)
    parser.add_argument("--n-steps", type=int_in(1), default=defaults.n_steps,
                        help="steps per trajectory per rollout")
    parser.add_argument("--batch-size", type=int_in(1), default=defaults.batch_size,
                        help="PPO minibatch (at most n_envs * n_steps)")
    parser.add_argument("--n-epochs", type=int_in(1), default=defaults.n_epochs)
    parser.add_argument("--reward-normalization", choices=("total_utility", "optimum"),
                        default=defaults.reward_normalization,
                        help="divide each problem's rewards by its total utility (default) or "
                             "by its optimal expected utility (returns are efficiencies)")
    parser.add_argument("--learning-rate", type=float_in(0.0, 1.0),
                        default=defaults.learning_rate,
                        help="Adam step size at the start (falls linearly to the final one)")
    parser.add_argument("--learning-rate-final", type=float_in(0.0, 1.0),
                        default=defaults.learning_rate_final)
    parser.add_argument("--ent-coef", type=float_in(0.0, 1.0), default=defaults.ent_coef,
                        help="entropy bonus at the start (falls linearly to the final one)")
    parser.add_argument("--ent-coef-final", type=float_in(0.0, 1.0),
                        default=defaults.ent_coef_final)
    parser.add_argument("--validation-problems", type=int_in(0),
                        default=defaults.validation_problems,
                        help="sampled problems the best stage is picked on")
    parser.add_argument("--validation-paper-like", type=int_in(0),
                        default=defaults.validation_paper_like,
                        help="paper-like problems (other W0) added to the validation set")
    parser.add_argument("--validation-paths", type=int_in(2),
                        default=defaults.validation_paths)
    parser.add_argument("--validation-lookahead", type=int_in(1, 64),
                        default=defaults.validation_lookahead,
                        help="score the validation problems with the critic's lookahead over "
                             "this many decisions (1: the network's own decisions)")
    parser.add_argument("--mixture", choices=TRAINING_MIXTURES, default=defaults.mixture,
                        help="where the training problems come from: the sampler's default "
                             "envelope, or a mixture of gbwm_sb3.pretrained.mixture")
    parser.add_argument("--start", default=defaults.start, metavar="{scratch,shipped,ppo,DIR}",
                        help="a fresh network, or PPO continued from the shipped weights, "
                             "the pure-RL PPO weights or the weights in directory DIR (for "
                             "example a DP-teacher run's best/)")
    parser.add_argument("--width", type=int_in(1, 4096), default=defaults.head,
                        help="hidden units of the actor's embedding layers and heads (the "
                             "shipped network's: 64; a --start other than scratch must have "
                             "the same width; the critic keeps its own layers)")
    parser.add_argument("--weighted-reach", action="store_true",
                        help="the portfolio head also reads the reach probabilities weighted "
                             "by the goals' utility (new inputs start at zero with --start "
                             "ppo)")
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
                             "worth after each decision (new inputs start at zero with a "
                             "start that does not read them)")
    parser.add_argument("--curriculum-share", type=float_in(0.0, 1.0),
                        default=defaults.curriculum_share,
                        help="share of each stage's problems drawn from the bands (goal count "
                             "x funding ratio) where the network's measured gap to the DP is "
                             "largest (0: no curriculum)")
    parser.add_argument("--curriculum-problems", type=int_in(1),
                        default=defaults.curriculum_problems,
                        help="fresh problems per band the gaps are measured on, each stage")
    parser.add_argument("--validation-mixture", type=int_in(0),
                        default=defaults.validation_mixture,
                        help="problems of --mixture added to the validation set")
    parser.add_argument("--pool-size", type=int_in(1), default=defaults.pool_size)
    parser.add_argument("--new-problems-per-step", type=int_in(0),
                        default=defaults.new_problems_per_step)
    parser.add_argument("--threads", type=int_in(1), default=None,
                        help="PyTorch threads (default 1: the same seed gives the same "
                             "weights bit for bit; more threads are faster, not bit-exact)")
    parser.add_argument("--max-stages", type=int_in(1), default=None,
                        help="stop after N more stages in this call")
    parser.add_argument("--until-stage", type=int_in(0), default=None,
                        help="stop once the run has N stages in all (rerunning the same "
                             "command resumes and stops at the same stage)")
    parser.add_argument("--tensorboard", type=Path, default=None)
    parser.add_argument("--export", type=Path, default=None,
                        help="copy the best weights so far here (with the run's history)")
    parser.add_argument("--overwrite-export", action="store_true",
                        help="replace weights already at --export")
    args = parser.parse_args(argv)
    try:
        config = PretrainConfig(seed=args.seed, total_timesteps=args.total_timesteps,
                                stage_timesteps=args.stage_timesteps, n_envs=args.n_envs,
                                n_steps=args.n_steps, batch_size=args.batch_size,
                                n_epochs=args.n_epochs,
                                reward_normalization=args.reward_normalization,
                                pool_size=args.pool_size,
                                new_problems_per_step=args.new_problems_per_step,
                                learning_rate=args.learning_rate,
                                learning_rate_final=args.learning_rate_final,
                                ent_coef=args.ent_coef, ent_coef_final=args.ent_coef_final,
                                validation_problems=args.validation_problems,
                                validation_paper_like=args.validation_paper_like,
                                validation_paths=args.validation_paths,
                                validation_lookahead=args.validation_lookahead,
                                mixture=args.mixture, start=args.start,
                                validation_mixture=args.validation_mixture,
                                weighted_reach=args.weighted_reach,
                                entry_reach=args.entry_reach,
                                decision_margins=args.decision_margins,
                                decision_reach=args.decision_reach,
                                curriculum_share=args.curriculum_share,
                                curriculum_problems=args.curriculum_problems,
                                embedding=(args.width, args.width), head=args.width)
        if args.export is not None and (args.export / "manifest.json").exists() \
                and not args.overwrite_export:  # refused before hours of training
            parser.error(f"--export {args.export} already holds weights; add "
                         "--overwrite-export to replace them")
        if args.seeds is None:
            for name in ("engine", "workers", "address"):
                if getattr(args, name) != parser.get_default(name):
                    parser.error(f"--{name} is only used with --seeds")
            state = pretrain(config, args.out, threads=args.threads,
                             tensorboard=args.tensorboard, max_stages=args.max_stages,
                             until_stage=args.until_stage)
            run = args.out
        else:
            if args.seed != parser.get_default("seed"):
                parser.error("--seed and --seeds exclude each other")
            if args.threads not in (None, 1) or args.tensorboard is not None:
                parser.error("--seeds runs each seed with one thread and no TensorBoard "
                             "logs: drop --threads and --tensorboard")
            runs = pretrain_seeds(config, args.out, args.seeds, engine=args.engine,
                                  workers=args.workers, address=args.address,
                                  max_stages=args.max_stages, until_stage=args.until_stage)
            scored = any(r.validation_mean is not None for r in runs)
            run = Path((best_seed(runs) if scored else runs[0]).directory)
            if scored:
                print(f"best seed: {run.name}")
            state = json.loads((run / "state.json").read_text())
    except ValueError as error:
        parser.error(str(error))
    print(f"{state['stage']}/{config.stages} stages, {state['num_timesteps']:,} steps, "
          f"{state['wall_time_s'] / 60:.1f} min of training; best validation "
          f"{state['best']}")
    if args.export is not None:
        if state["best"] is None:
            why = ("no stage has beaten the starting weights' validation"
                   if "start_validation" in state else "no stage has finished yet")
            print(f"not exporting: {why}", file=sys.stderr)
            return 1
        _export(run, state, args.export, config.stages,
                list(argv if argv is not None else sys.argv[1:]))
        print(f"exported {run / 'best'} to {args.export}")
    return 0


def _export(run: Path, state: dict, export: Path, stages: int, command: list[str]) -> None:
    """Copy ``run``'s best weights to ``export``, with the command and the run's history."""
    export.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "best" / "weights.npz", export / "weights.npz")
    manifest = json.loads((run / "best" / "manifest.json").read_text())
    if "--export" in command:  # the command that trains, without the export step
        i = command.index("--export")
        del command[i: i + 2]
    command = [a for a in command if a != "--overwrite-export"]
    manifest["metadata"].update(
        command=" ".join(["python examples/pretrain.py", *command]),
        total_wall_time_s=state["wall_time_s"], stages_run=state["stage"],
        stages=stages, history=state["history"])
    (export / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
