"""``gbwm tune``: hyperparameter studies on Optuna (NSGA-II or TPE), shareable across machines.

    gbwm tune paper:4 paper:16 --study S --trials 20            run 20 trials (SQLite file)
    gbwm tune paper:4 --study S --storage postgresql+psycopg://... --trials 10 --workers 2
    gbwm tune --study S --show                                  print + plot the front
    gbwm tune --study S --export-preset fast [--trial N]        save a trial as a preset

See :mod:`gbwm_sb3.experiments.tuning` for what a trial does.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path
from typing import Any

from gbwm_sb3.cli.arguments import CLIError, float_in, int_in, shown
from gbwm_sb3.cli.checks import check_output_dir, check_output_file, check_problem
from gbwm_sb3.common.limits import MAX_PATHS, MAX_SEEDS, MAX_TRAJECTORIES, MAX_TRIALS, MAX_WORKERS
from gbwm_sb3.experiments import tuning
from gbwm_sb3.experiments import tuning_results as results
from gbwm_sb3.ppo.registry import PRESET_NAME_PATTERN, USER_PRESETS_ENV, save_preset

__all__ = ["add_tune_parser", "cmd_tune", "DEFAULT_STORAGE"]

DEFAULT_STORAGE = "sqlite:///gbwm-tune.db"
#: Largest trial number ``--trial`` accepts (a 32-bit integer in the study database).
MAX_TRIAL_NUMBER = 2**31 - 1


def _storage_url(text: str) -> str:
    """``--storage``: an SQLAlchemy URL (checked for form here, for reach when opened).

    The URL is shown in messages with its password masked (``tuning.mask_url_password``).
    """
    try:
        from sqlalchemy.engine import make_url
    except ImportError:
        raise argparse.ArgumentTypeError(
            'needs SQLAlchemy; install the tuning extra: pip install "gbwm-sb3[tune]"') from None
    try:
        make_url(text)
    except Exception:  # noqa: BLE001 - sqlalchemy raises several types for a bad URL
        raise argparse.ArgumentTypeError(
            f"must be an SQLAlchemy URL such as sqlite:///tune.db or "
            f"postgresql+psycopg://USER@HOST:PORT/DB, got "
            f"{shown(tuning.mask_url_password(text))}") from None
    return text


def _study_name(text: str) -> str:
    if not text.strip() or len(text) > 200:
        raise argparse.ArgumentTypeError(f"must be a non-empty name of at most 200 "
                                         f"characters, got {text!r}")
    return text


def _fixed(text: str) -> tuple[str, Any]:
    """``--fix NAME=VALUE``: a search-space parameter held at a JSON value."""
    name, sep, raw = text.partition("=")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare word: a string
    try:
        if not sep:
            raise ValueError(f"expected NAME=VALUE, got {text!r}")
        tuning.check_fixed(name.strip(), value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name.strip(), value


def add_tune_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``tune`` command to the ``gbwm`` subparsers."""
    tune = commands.add_parser(
        "tune", help="tune hyperparameters with Optuna (NSGA-II or TPE)",
        description="Run, show or export an Optuna study. Each trial trains a configuration "
                    "(the paper preset with overrides from the search space) on every "
                    "PROBLEM for every seed and scores it against DP on common random "
                    "numbers. nsga2: efficiency (max) and training time (min); tpe: "
                    "efficiency with pruning. Any number of `gbwm tune` processes, on any "
                    "machines, can work on one study through a shared --storage.")
    tune.add_argument("problems", nargs="*", metavar="PROBLEM",
                      help="problem file or paper:NG (several: efficiency is their mean); "
                           "needed to create a study")
    tune.add_argument("--study", required=True, type=_study_name, help="study name")
    tune.add_argument("--storage", type=_storage_url, default=DEFAULT_STORAGE,
                      help=f"SQLAlchemy URL of the study database (default {DEFAULT_STORAGE}, "
                           "a file in the current folder; postgresql+psycopg://... to share it)")
    tune.add_argument("--trials", type=int_in(1, MAX_TRIALS), default=None,
                      help="trials to run in this command (shared among --workers)")
    tune.add_argument("--workers", type=int_in(1, MAX_WORKERS), default=1,
                      help="worker processes on this machine, one core each (default 1)")
    tune.add_argument("--sampler", choices=tuning.SAMPLERS, default="nsga2",
                      help="nsga2: efficiency and training time (default); tpe: efficiency "
                           "with pruning")
    tune.add_argument("--n-trajectories", type=int_in(1, MAX_TRAJECTORIES), default=50_000,
                      help="training budget per run in trajectories (default 50,000)")
    tune.add_argument("--seeds", type=int_in(1, MAX_SEEDS), default=2,
                      help="training seeds 0..S-1 per problem in each trial (default 2)")
    tune.add_argument("--eval-paths", type=int_in(2, MAX_PATHS), default=20_000,
                      help="common-random-number paths per evaluation (default 20,000)")
    tune.add_argument("--population", type=int_in(2, tuning.MAX_POPULATION), default=8,
                      help="NSGA-II population size; TPE: random trials before modelling "
                           "= half of it (default 8)")
    tune.add_argument("--timeout", type=float_in(1.0, 1e7), default=None,
                      help="stop starting trials after this many seconds")
    tune.add_argument("--heartbeat", type=float_in(1.0, 3600.0), default=30.0,
                      help="seconds between a running trial's heartbeats; a trial silent "
                           "for 3 beats (its worker died) is marked failed (default 30)")
    tune.add_argument("--fix", action="append", default=[], type=_fixed, metavar="NAME=VALUE",
                      help="hold a search-space parameter at VALUE (JSON: 1200, 0.01, "
                           "\"linear\", true); repeatable. Parameters: "
                           + ", ".join(tuning.SEARCH_SPACE))
    tune.add_argument("--show", action="store_true",
                      help="print the Pareto front and write it (CSV, JSON, markdown, PNG) "
                           "to --out")
    tune.add_argument("--out", default=None, metavar="DIR",
                      help="folder for --show (default tune-STUDY)")
    tune.add_argument("--export-preset", default=None, metavar="NAME",
                      help="save a completed trial as preset NAME in --preset-file")
    tune.add_argument("--trial", type=int_in(0, MAX_TRIAL_NUMBER), default=None,
                      help="trial to export (default: the most efficient on the front)")
    tune.add_argument("--preset-file", default=None, metavar="PATH",
                      help="presets file to write (default: the user presets file, "
                           "$GBWM_PRESETS or ~/.config/gbwm/presets.json)")
    tune.add_argument("--force", action="store_true",
                      help="replace a preset of the same name in --preset-file")
    tune.set_defaults(func=cmd_tune)
    return tune


def _default_preset_file() -> Path:
    raw = os.environ.get(USER_PRESETS_ENV)
    if raw:
        return Path(raw.split(os.pathsep)[0])
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "gbwm" / "presets.json"


def _shown_storage(args: argparse.Namespace) -> str:
    """``--storage`` as every message and file shows it: its password masked."""
    return tuning.mask_url_password(args.storage)


def _storage_message(args: argparse.Namespace, exc: BaseException) -> str:
    """The first line of ``exc`` (a database error), the storage password masked."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return tuning.mask_secrets(first, args.storage)


def _is_storage_error(exc: BaseException) -> bool:
    """An error raised by the database layer (SQLAlchemy, its drivers) or by Optuna."""
    module = type(exc).__module__.split(".")[0]
    return module in ("sqlalchemy", "optuna", "psycopg", "psycopg2", "sqlite3", "pymysql")


def _open(args: argparse.Namespace) -> Any:
    """The study storage of ``--storage`` (a usage error when it cannot be opened)."""
    try:
        storage = tuning.make_storage(args.storage, args.heartbeat)
    except ImportError as exc:
        raise CLIError(f"--storage {_shown_storage(args)}: a database driver is missing "
                       f"({_storage_message(args, exc)}); install the tuning extra: "
                       f"{tuning.TUNE_INSTALL_HINT}") from None
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise CLIError(f"--storage {_shown_storage(args)}: cannot open the database: "
                       f"{_storage_message(args, exc)}") from None
    return storage


def _run(args: argparse.Namespace) -> None:
    if not args.problems:
        raise CLIError("PROBLEM is needed to run trials (e.g. paper:4 paper:16)")
    for spec in args.problems:
        check_problem(spec)  # a clear error now rather than in every trial
    settings = tuning.TuneSettings(problems=tuple(args.problems),
                                   n_trajectories=args.n_trajectories, seeds=args.seeds,
                                   n_eval_paths=args.eval_paths, sampler=args.sampler,
                                   fixed=dict(args.fix))
    print(f"study {args.study!r} on {_shown_storage(args)}: {args.trials} trial(s) with "
          f"{args.workers} worker(s), sampler {args.sampler}", flush=True)
    try:
        study = tuning.optimize(args.storage, args.study, settings, args.trials,
                                workers=args.workers, population=args.population,
                                timeout=args.timeout, heartbeat=args.heartbeat)
    except (ValueError, RuntimeError) as exc:
        raise CLIError(tuning.mask_secrets(str(exc), args.storage)) from None
    except Exception as exc:
        if not _is_storage_error(exc):
            raise
        raise CLIError(f"--storage {_shown_storage(args)}: the study database failed: "
                       f"{_storage_message(args, exc)}") from None
    print(f"study {args.study!r}: {results.describe_counts(study)}")


def _load(args: argparse.Namespace, storage: Any) -> Any:
    try:
        return tuning.load_study(storage, args.study)
    except KeyError:
        raise CLIError(f"--study {args.study!r}: no such study in "
                       f"{_shown_storage(args)}") from None
    except Exception as exc:
        if not _is_storage_error(exc):
            raise
        raise CLIError(f"--storage {_shown_storage(args)}: cannot read study "
                       f"{args.study!r}: {_storage_message(args, exc)}") from None


def cmd_tune(args: argparse.Namespace) -> int:
    """Run trials (with --trials), then show and/or export (with --show/--export-preset)."""
    if args.trials is None and not args.show and args.export_preset is None:
        raise CLIError("nothing to do: give --trials N to run trials, --show or "
                       "--export-preset NAME")
    if args.trial is not None and args.export_preset is None:
        raise CLIError("--trial selects the trial for --export-preset; give --export-preset")
    if args.export_preset is not None and not PRESET_NAME_PATTERN.match(args.export_preset):
        raise CLIError(f"--export-preset must be lower-case letters, digits, '-', '_' or "
                       f"'.', starting with a letter or digit; got {args.export_preset!r}")
    if args.show:
        check_output_dir(_show_dir(args), force=True, option="--out")
    if args.export_preset is not None:
        check_output_file(_preset_path(args), "--preset-file")
    storage = _open(args)
    if args.trials is not None:
        _run(args)
    study = _load(args, storage)
    if args.show:
        _show(args, study)
    if args.export_preset is not None:
        _export(args, study)
    return 0


def _show(args: argparse.Namespace, study: Any) -> None:
    if not results.front_rows(study):
        raise CLIError(f"study {args.study!r} has no completed trial yet "
                       f"({results.describe_counts(study)})")
    print(f"study {args.study!r}: {results.describe_counts(study)}; settings "
          f"{tuning.study_settings(study).to_attrs()}")
    print(results.format_front(study))
    out = _show_dir(args)
    command = " ".join(shlex.quote(a) for a in (
        "gbwm", "tune", "--study", args.study, "--storage", _shown_storage(args), "--show",
        "--out", str(out)))
    try:
        written = results.write_front(study, out, command=command)
    except OSError as exc:
        raise CLIError(f"--out {out}: cannot write the front: {exc.strerror or exc}") from None
    for path in written:
        print(path)


def _show_dir(args: argparse.Namespace) -> Path:
    """Where ``--show`` writes: ``--out`` or ``tune-STUDY``."""
    if args.out is not None and not args.out.strip():
        raise CLIError("--out must be a folder path, got ''")
    return Path(args.out) if args.out else Path(f"tune-{args.study}")


def _preset_path(args: argparse.Namespace) -> Path:
    """The presets file ``--export-preset`` writes."""
    if args.preset_file is not None and not args.preset_file.strip():
        raise CLIError("--preset-file must be a file path, got ''")
    return Path(args.preset_file) if args.preset_file else _default_preset_file()


def _export(args: argparse.Namespace, study: Any) -> None:
    try:
        number = results.choose_trial(study, args.trial)
        preset = results.preset_from_trial(study, args.export_preset, number)
        path = _preset_path(args)
        save_preset(preset, path, replace=args.force, extra=results.trial_source(study, number))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"--preset-file {_preset_path(args)}: cannot write it: "
                       f"{exc.strerror or exc}") from None
    print(f"preset {preset.name!r} ({preset.description}) written to {path}")
    print(f"use it with GBWM_PRESETS={path} gbwm train PROBLEM --preset {preset.name} ...")
