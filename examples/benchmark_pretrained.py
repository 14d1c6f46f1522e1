"""The pretrained policy on the benchmark suite: zero-shot efficiency against the DP optimum.

For every problem of the suite (``gbwm_sb3.pretrained.suite``: the paper's family, the
example files, sampled clients and out-of-distribution capital markets) this solves the
exact optimum, builds the pretrained policy for the problem (no training) and scores both
on the same simulated markets; with ``--fine-tune-trajectories N`` (or
``--fine-tune-seconds S``) it also fine-tunes the policy on the problem and scores that.
Prints one line per problem and writes ``results.jsonl`` (one JSON record per problem,
as each finishes) and ``summary.md`` (the tables, per category and overall, and the
comparison with the 97.8% anchor of GBWM-SPEC section 6) to ``--out``; ``--resume``
goes on with an interrupted run there (the same command with ``--resume``: the problems
it scored with the same settings are kept, the rest scored, and ``summary.md`` covers
them all).

    python examples/benchmark_pretrained.py                      # shipped weights, all 66
    python examples/benchmark_pretrained.py --limit 3 --paths 10000 --out /tmp/smoke
    python examples/benchmark_pretrained.py --categories out_of_distribution \\
        --fine-tune-trajectories 20000 --out docs/results/pretrained-ood
    python examples/benchmark_pretrained.py --paths 20000 --fine-tune-seconds 60 \\
        --out docs/results/pretrained-fine-tune-60s-critic --resume

The fine-tuned policy acts through its critic's lookahead where that scores better on
``fine_tune``'s held-out markets (``--fine-tune-critic held-out``, the default; ``on`` or
``off`` fix it; ``off`` is ``fine_tune`` as it was before the choice existed, as in
docs/results/pretrained-fine-tune-60s).

``--family NAME [NAME ...]`` (or ``--family all``) runs the independent problem families
of ``gbwm_sb3.pretrained.families`` instead of the suite (problems made by other rules
than the package's sampler; default ``--out docs/results/pretrained-families``): a
problem outside the weights' acceptance envelope is recorded as refused, with the
reasons, and scored beyond it with the same network (``--no-beyond``: not scored);
``--resume`` works there too.

    python examples/benchmark_pretrained.py --family all --paths 100000
    python examples/benchmark_pretrained.py --family underfunded crowded_years --limit 4 \\
        --paths 5000 --out /tmp/families
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gbwm_sb3.cli.arguments import int_in, lookahead_option
from gbwm_sb3.pretrained.benchmark import anchor_line, existing_outputs, run_benchmark
from gbwm_sb3.pretrained.families import FAMILY_NAMES, family_problems
from gbwm_sb3.pretrained.loading import recommended_lookahead
from gbwm_sb3.pretrained.suite import SUITE_CATEGORIES, benchmark_suite
from gbwm_sb3.problem.model import GBWMProblem

MAX_PATHS = 100_000_000
SUITE_OUT = Path("docs/results/pretrained")
FAMILIES_OUT = Path("docs/results/pretrained-families")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None,
                        help="pretrained weights to load (default: the shipped ones)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--categories", nargs="+", choices=SUITE_CATEGORIES, default=None,
                       metavar="CATEGORY",
                       help=f"suite categories to run, among {', '.join(SUITE_CATEGORIES)} "
                            "(default: all)")
    which.add_argument("--family", nargs="+", choices=(*FAMILY_NAMES, "all"), default=None,
                       metavar="NAME",
                       help="run independent problem families instead of the suite: "
                            f"{', '.join(FAMILY_NAMES)}, or all")
    parser.add_argument("--paths", type=int_in(2, MAX_PATHS), default=100_000,
                        help="simulated markets per problem (default 100000)")
    parser.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0,
                        help="seed of the simulated markets (default 0)")
    parser.add_argument("--fine-tune-trajectories", type=int_in(0), default=0, metavar="N",
                        help="fine-tune on each problem for N trajectories (0: skip, default)")
    parser.add_argument("--fine-tune-seconds", type=int_in(0, 86_400), default=0, metavar="S",
                        help="fine-tune on each problem for S seconds of wall time (with "
                             "--fine-tune-trajectories as the cap, default unbounded; 0: by "
                             "trajectories only)")
    parser.add_argument("--fine-tune-critic", choices=tuple(CRITIC_CHOICES),
                        default="held-out",
                        help="whether the fine-tuned policy acts through its critic's "
                             "lookahead: held-out (default: where better on fine_tune's "
                             "held-out markets), on, off (as before that choice existed)")
    parser.add_argument("--lookahead", type=lookahead_option, default=None, metavar="K",
                        help="decisions the network's critic compares each year (default: "
                             "the weights' own, recommended_lookahead; 1: the network's most "
                             "likely decision; auto: per problem, whichever of the two does "
                             "better on simulated markets, then the best portfolio shift, "
                             "without fine-tuning)")
    parser.add_argument("--exact", action="store_true",
                        help="compute the action at every path (default: bracket large "
                             "batches, gbwm_sb3.pretrained.bracketing)")
    parser.add_argument("--limit", type=int_in(1), default=None, metavar="N",
                        help="only the first N problems (smoke runs)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for results.jsonl and summary.md (default {SUITE_OUT}; "
                             f"with --family, {FAMILIES_OUT})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of an earlier run in --out")
    parser.add_argument("--resume", action="store_true",
                        help="go on with an interrupted run in --out (suite or --family): "
                             "keep the problems it scored with the same settings (paths, "
                             "seed, weights, lookahead, --exact, fine-tuning), score the "
                             "rest and write summary.md over all of them; other settings "
                             "are refused")
    parser.add_argument("--no-beyond", action="store_true",
                        help="with --family: do not score the refused problems beyond the "
                             "envelope")
    parser.add_argument("--threads", type=int_in(1, 256), default=1,
                        help="PyTorch intra-op threads (default 1: these networks are small)")
    args = parser.parse_args(argv)
    if args.weights is not None and not args.weights.exists():
        parser.error(f"argument --weights: no such file or folder: {args.weights}")
    if args.no_beyond and args.family is None:
        parser.error("argument --no-beyond: only with --family")
    if args.resume and args.overwrite:
        parser.error("argument --resume: not allowed with argument --overwrite")
    if args.lookahead == "auto" and _fine_tunes(args):
        parser.error("argument --lookahead: auto is for the zero-shot policy, not with "
                     "fine-tuning (fine_tune chooses its critic's lookahead on held-out "
                     "markets: --fine-tune-critic)")
    if args.lookahead is None:
        args.lookahead = recommended_lookahead(args.weights)
    if args.out is None:
        args.out = FAMILIES_OUT if args.family is not None else SUITE_OUT
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: {args.out} is a file, expected a folder")
    existing = existing_outputs(args.out)
    if existing and not args.overwrite and not args.resume:
        parser.error(f"argument --out: {', '.join(str(p) for p in existing)} already "
                     "exist(s); choose another folder or pass --overwrite to replace them "
                     "(or --resume to go on with them)")
    return args


#: ``--fine-tune-critic`` choices and ``fine_tune``'s ``critic_lookahead`` for each.
CRITIC_CHOICES: dict[str, bool | None] = {"held-out": None, "on": True, "off": False}


def _fine_tunes(args: argparse.Namespace) -> bool:
    return bool(args.fine_tune_trajectories or args.fine_tune_seconds)


def _fine_tune_budget(args: argparse.Namespace) -> int:
    """Trajectories for ``fine_tune``: the given cap, or unbounded under a time budget."""
    return args.fine_tune_trajectories or 10**9


def _time_budget(args: argparse.Namespace) -> dict[str, float]:
    """``fine_tune``'s ``time_budget_s`` when ``--fine-tune-seconds`` is given."""
    return {"time_budget_s": float(args.fine_tune_seconds)} if args.fine_tune_seconds else {}


def _fine_tune_text(args: argparse.Namespace) -> str:
    if not _fine_tunes(args):
        return "no fine-tuning"
    if not args.fine_tune_seconds:
        return (f"{args.fine_tune_trajectories:,} fine-tuning trajectories per problem, "
                f"critic lookahead {args.fine_tune_critic}")
    cap = (f" (at most {args.fine_tune_trajectories:,} trajectories)"
           if args.fine_tune_trajectories else "")
    return (f"{args.fine_tune_seconds} s of fine-tuning per problem{cap}, critic lookahead "
            f"{args.fine_tune_critic}")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the policies were (in every record; a resumed run must have the same)."""
    return {"weights": str(args.weights) if args.weights is not None
            else "shipped with the package", "lookahead": args.lookahead,
            "exact": args.exact, "fine_tune_trajectories": args.fine_tune_trajectories,
            "fine_tune_seconds": args.fine_tune_seconds,
            **({"fine_tune_critic": args.fine_tune_critic} if _fine_tunes(args) else {})}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        from gbwm_sb3.pretrained import fine_tune, pretrained_policy
    except ImportError as exc:
        sys.exit(f"benchmark_pretrained.py: error: the pretrained policy is not available in "
                 f"this installation ({exc})")
    import torch

    torch.set_num_threads(args.threads)
    if args.family is not None:
        _run_families(args, argv)
        return
    suite = benchmark_suite(args.categories)
    if args.limit is not None:
        suite = suite[: args.limit]
    weights = args.weights

    def build(problem: GBWMProblem) -> Any:
        return pretrained_policy(problem, weights=weights, lookahead=args.lookahead,
                                 exact=args.exact)

    def tuned(problem: GBWMProblem) -> Any:
        return fine_tune(problem, _fine_tune_budget(args), weights=weights, seed=args.seed,
                         lookahead=args.lookahead,
                         critic_lookahead=CRITIC_CHOICES[args.fine_tune_critic],
                         **_time_budget(args))

    source = weights if weights is not None else "shipped with the package"
    tuning = _fine_tune_text(args)
    command = " ".join(["python examples/benchmark_pretrained.py",
                        *(sys.argv[1:] if argv is None else argv)])
    scoring = "every action computed" if args.exact else "large batches bracketed"
    notes = [f"Weights: {source}; {tuning}; lookahead {args.lookahead} (decisions the "
             f"critic compares a year; 1: none); {scoring}.", f"Command: `{command}`"]
    try:
        records = run_benchmark(build, suite, n_paths=args.paths, seed=args.seed,
                                fine_tune_factory=tuned if _fine_tunes(args) else None,
                                out=args.out, overwrite=args.overwrite, notes=notes,
                                settings=_settings(args), resume=args.resume)
    except ValueError as exc:  # a resumed folder made with other settings
        sys.exit(f"benchmark_pretrained.py: error: {exc}")
    print(anchor_line(records))
    print(f"wrote {args.out / 'results.jsonl'} and {args.out / 'summary.md'}")


def _run_families(args: argparse.Namespace, argv: list[str] | None) -> None:
    """``--family``: the independent families, inside and beyond the envelope."""
    import gbwm_sb3.pretrained as pretrained
    from gbwm_sb3.pretrained.family_benchmark import family_table, run_family_benchmark
    from gbwm_sb3.pretrained.loading import accepted_envelope, bind_policy

    weights = args.weights
    envelope = accepted_envelope(weights)  # what pretrained_policy accepts
    suite = family_problems(args.family)
    if args.limit is not None:
        suite = suite[: args.limit]

    def build(problem: GBWMProblem) -> Any:
        return pretrained.pretrained_policy(problem, weights=weights, lookahead=args.lookahead,
                                            exact=args.exact)

    def beyond(problem: GBWMProblem) -> Any:  # the same network, without the envelope check
        return bind_policy(pretrained.pretrained_network(weights), problem,
                           lookahead=args.lookahead, exact=args.exact)

    def tuned(problem: GBWMProblem) -> Any:
        return pretrained.fine_tune(problem, _fine_tune_budget(args), weights=weights,
                                    seed=args.seed, lookahead=args.lookahead,
                                    critic_lookahead=CRITIC_CHOICES[args.fine_tune_critic],
                                    **_time_budget(args))

    source = str(weights) if weights is not None else "shipped with the package"
    command = " ".join(["python examples/benchmark_pretrained.py",
                        *(sys.argv[1:] if argv is None else argv)])
    scoring = "every action computed" if args.exact else "large batches bracketed"
    tuning = _fine_tune_text(args) + (" where `fine_tune` accepts the problem"
                                      if _fine_tunes(args) else "")
    notes = [f"Weights: {source}; {tuning}; lookahead {args.lookahead} (decisions the critic "
             f"compares a year; 1: none); {scoring}.", f"Command: `{command}`"]
    try:
        records = run_family_benchmark(
            build, suite, envelope, n_paths=args.paths, seed=args.seed,
            beyond_factory=None if args.no_beyond else beyond,
            fine_tune_factory=tuned if _fine_tunes(args) else None,
            fine_tune_envelope=pretrained.fine_tune_envelope(weights),
            settings=_settings(args), out=args.out, overwrite=args.overwrite,
            resume=args.resume, notes=notes)
    except ValueError as exc:  # a resumed folder made with other settings
        sys.exit(f"benchmark_pretrained.py: error: {exc}")
    print("\n".join(family_table(records)))
    print(f"wrote {args.out / 'results.jsonl'} and {args.out / 'summary.md'}")


if __name__ == "__main__":
    main()
