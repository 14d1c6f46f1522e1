"""The ``gbwm`` command line: solve, train, evaluate and plot GBWM problems.

    gbwm solve PROBLEM                       optimal expected utility, first decision, goal odds
    gbwm train PROBLEM --out DIR             train a preset, save a safe model directory
    gbwm evaluate DIR                        RL vs DP and the paper's benchmark strategies
    gbwm plot DIR                            policy heatmaps, wealth fan, goal odds, curves
    gbwm reproduce table1|sensitivity|figure2|ablation [OPTIONS]   the paper's experiments
    gbwm tune PROBLEM... --study NAME --trials N   Optuna study (see gbwm_sb3.cli.tune)
    gbwm advise PROBLEM [--year T --wealth W]    today's decision from the pretrained policy

PROBLEM is a problem file (``.yaml``, ``.yml``, ``.json``; see docs/problem_files.md) or
``paper:NG`` (NG in 1, 2, 4, 8, 16; ``paper:NG:UNIT`` scales money by UNIT).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gbwm_sb3.cli.advise import add_advise_parser
from gbwm_sb3.cli.arguments import CLIError, float_in, int_in
from gbwm_sb3.cli.checks import (
    check_output_dir,
    check_output_file,
    check_path_text,
    check_problem,
    format_money,
)
from gbwm_sb3.cli.fine_tune import add_fine_tune_parser
from gbwm_sb3.cli.reproduce import add_reproduce_parser
from gbwm_sb3.cli.tune import add_tune_parser
from gbwm_sb3.common.limits import (
    MAX_N_ENVS,
    MAX_PATHS,
    MAX_ROLLOUT_STEPS,
    MAX_SEED,
    MAX_TRAJECTORIES,
)
from gbwm_sb3.ppo.registry import preset_names
from gbwm_sb3.problem.market import LognormalMarket
from gbwm_sb3.problem.regimes import RegimeMarket

__all__ = ["main", "build_parser"]

BENCHMARKS = ("greedy_goals_rl_portfolios", "buy_and_hold_coin_flip", "random",
              "dp_portfolios_rl_goals", "rl_portfolios_dp_goals")
EVALUATION_FILE = "evaluation.json"
LOG_DIR = "logs"
#: Largest ``gbwm train --eval-every`` (PPO iterations between evaluations).
MAX_EVAL_EVERY = 1_000_000
#: Largest ``gbwm train --batch-size`` (steps; it cannot exceed a rollout anyway).
MAX_BATCH_SIZE = MAX_ROLLOUT_STEPS


# ----------------------------------------------------------------------------- helpers
def _paper_num_goals(problem: Any) -> int | None:
    """NG if ``problem`` is the paper's problem (at any unit), else None."""
    from gbwm_sb3.problem.model import PAPER_NUM_GOALS, paper_problem

    for ng in PAPER_NUM_GOALS:
        if problem == paper_problem(ng, unit=problem.unit):
            return ng
    return None


def _money(value: float) -> str:
    return format_money(value)


def _describe_problem(problem: Any, spec: str) -> str:
    wealth = _money(problem.initial_wealth)
    return (f"{spec}: T = {problem.horizon} years, initial wealth {wealth}, "
            f"{len(problem.goals)} goals worth {problem.total_utility:g} in total, "
            f"{problem.num_portfolios} portfolios")


def _goal_name(goal: Any) -> str:
    return goal.name if goal.name else f"goal at t={goal.time}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).rjust(w) if r else str(c).ljust(w)
                         for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _check_output_dir(path: str | os.PathLike[str], force: bool, option: str) -> Path:
    return check_output_dir(path, force, option)


def _load_model_dir(directory: str) -> tuple[Any, Any, dict[str, Any]]:
    from gbwm_sb3.model_io import load_model_safely, read_manifest

    check_path_text(directory, "DIR", "model directory path")
    try:
        manifest = read_manifest(directory)
        model, problem = load_model_safely(directory)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"DIR {directory}: cannot read the model "
                       f"({exc.strerror or exc})") from None
    return model, problem, manifest


def _solve(problem: Any, grid_density: float | None = None, spec: str = "") -> Any:
    """The DP solution; a usage error when the problem is beyond the solver."""
    from gbwm_sb3.dp import solve_dp

    kwargs: dict[str, Any] = {} if grid_density is None else {"grid_density": grid_density}
    try:
        return solve_dp(problem, **kwargs)
    except ValueError as exc:
        where = f"--grid-density {grid_density:g}" if grid_density is not None \
            and "grid_density" in str(exc) else f"PROBLEM {spec}" if spec else "the problem"
        raise CLIError(f"{where}: the DP solver refused it: {exc}") from None


def _solve_if_within(problem: Any, spec: str) -> Any:
    """The DP solution, or None for a plan whose state the DP does not cover (it is
    trained and scored without it; :func:`gbwm_sb3.dp.beyond_dp`)."""
    from gbwm_sb3.dp import beyond_dp

    reason = beyond_dp(problem)
    if reason is None:
        return _solve(problem, spec=spec)
    print(f"The exact DP does not go here: {reason}. Scored against the benchmark "
          "strategies instead (mean utility; no efficiency).", file=sys.stderr)
    return None


# ----------------------------------------------------------------------------- solve
def cmd_solve(args: argparse.Namespace) -> int:
    from gbwm_sb3.evaluation.evaluator import evaluate

    problem = check_problem(args.problem)
    start = time.perf_counter()
    dp = _solve(problem, args.grid_density, args.problem)
    solve_seconds = time.perf_counter() - start
    report = evaluate({"dp": dp}, problem, n_paths=args.paths, seed=args.seed)
    market = problem.market
    state: dict[str, Any] = {"regime": market.initial_index} if isinstance(
        market, RegimeMarket) else {}
    if problem.inflation is not None:
        state["inflation"] = problem.inflation.initial_rate
    take, portfolio = dp.act(0, [problem.initial_wealth], **state)
    j = int(portfolio[0])
    mean, vol = problem.portfolios.means[j], problem.portfolios.volatilities[j]
    if not problem.in_paper_family:
        return _print_general_solve(args, problem, dp, report, int(take[0]), j, solve_seconds)
    success = report["dp"].goal_success
    result = {
        "problem": args.problem,
        "expected_utility": dp.expected_utility,
        "total_utility": problem.total_utility,
        "solve_seconds": solve_seconds,
        "first_year": {"goal_at_t0": bool(problem.has_goal[0]), "take_goal": bool(take[0]),
                       "portfolio": j + 1, "mean": mean, "volatility": vol},
        "goal_success": [{"name": g.name, "time": g.time, "cost": g.cost,
                          "utility": g.utility, "probability": success[str(g.time)]}
                         for g in problem.goals],
        "simulated_mean_utility": report["dp"].mean_utility,
        "simulated_std_error": report["dp"].std_error,
        "paths": args.paths,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(_describe_problem(problem, args.problem))
    share = dp.expected_utility / problem.total_utility if problem.total_utility else 0.0
    print(f"Optimal expected utility: {dp.expected_utility:.4f} ({share:.1%} of the "
          f"{problem.total_utility:g} on offer; dynamic programming, {solve_seconds:.2f} s)")
    goal_now = ("no goal this year" if not problem.has_goal[0]
                else ("take the goal" if take[0] else "skip the goal"))
    print(f"First-year decision (t = 0, wealth {_money(problem.initial_wealth)}): {goal_now}; "
          f"hold portfolio #{j + 1} of {problem.num_portfolios} "
          f"(mean {mean:.2%}, volatility {vol:.2%})")
    print(f"\nGoal success under the optimal policy ({args.paths:,} simulated markets, "
          f"seed {args.seed}; mean utility {report['dp'].mean_utility:.3f} "
          f"+- {1.96 * report['dp'].std_error:.3f}):")
    rows = [[_goal_name(g), str(g.time), _money(g.cost), f"{g.utility:g}",
             f"{success[str(g.time)]:.1%}"] for g in problem.goals]
    print(_table(["goal", "year", "cost", "utility", "P(reached)"], rows,
                 [False, True, True, True, True]))
    return 0


def _print_general_solve(args: argparse.Namespace, problem: Any, dp: Any, report: Any,
                         decision: int, j: int, solve_seconds: float) -> int:
    """``gbwm solve`` for the general class: odds per goal and per level."""
    result_dp = report["dp"]
    keys = report.goal_keys()
    mean, vol = problem.portfolios.means[j], problem.portfolios.volatilities[j]
    first = problem.decisions(0)[decision]
    goals = []
    for key, goal in zip(keys, problem.goals, strict=True):
        goals.append({
            "label": key, "name": goal.name, "time": goal.time,
            "probability": result_dp.goal_success[key],
            "levels": [{"level": k, "cost": c, "utility": u,
                        "probability": result_dp.level_success[key][k - 1]}
                       for k, (c, u) in enumerate(goal.levels, start=1)],
        })
    result = {
        "problem": args.problem,
        "expected_utility": dp.expected_utility,
        "total_utility": problem.total_utility,
        "solve_seconds": solve_seconds,
        "first_year": {"decision": decision, "levels": list(first.levels),
                       "cost": first.cost, "utility": first.utility,
                       "portfolio": j + 1, "mean": mean, "volatility": vol},
        "infusions": list(problem.infusions),
        "market": problem.market.to_mapping(),
        "inflation": None if problem.inflation is None else problem.inflation.to_mapping(),
        "regime_values": dp.regime_values() if hasattr(dp, "regime_values") else None,
        "goal_success": goals,
        "bankruptcy_probability": result_dp.bankruptcy_probability,
        "simulated_mean_utility": result_dp.mean_utility,
        "simulated_std_error": result_dp.std_error,
        "paths": args.paths,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(_describe_problem(problem, args.problem))
    for label, amounts in (("Savings", [max(a, 0.0) for a in problem.infusions]),
                           ("Withdrawals", [max(-a, 0.0) for a in problem.infusions])):
        if any(amounts):
            print(f"{label}: {_money(sum(amounts))} in total over years "
                  f"{min(t for t, a in enumerate(amounts) if a)}.."
                  f"{max(t for t, a in enumerate(amounts) if a)}")
    if not isinstance(problem.market, LognormalMarket):
        print(f"Market: {problem.market.describe()}")
    if result["regime_values"]:
        print("Optimum starting in each regime: " + ", ".join(
            f"{name} {value:.4f}" for name, value in result["regime_values"].items()))
    if problem.inflation is not None:
        print(f"Inflation: {problem.inflation.describe()} (wealth in today's money)")
    if problem.survival:
        alive = math.prod(problem.survival)
        print(f"Survival table: probability {alive:.1%} of living to year {problem.horizon} "
              "(the plan ends at death)")
    share = dp.expected_utility / problem.total_utility if problem.total_utility else 0.0
    print(f"Optimal expected utility: {dp.expected_utility:.4f} ({share:.1%} of the "
          f"{problem.total_utility:g} on offer; dynamic programming, {solve_seconds:.2f} s)")
    due = problem.goals_at(0)
    if not due:
        now = "no goal this year"
    elif decision == 0:
        now = "take nothing"
    else:
        now = "take " + ", ".join(f"{_goal_name(g)} (level {k})" if g.num_levels > 1
                                  else _goal_name(g)
                                  for g, k in zip(first.goals, first.levels, strict=True) if k)
    print(f"First-year decision (t = 0, wealth {_money(problem.initial_wealth)}): {now}; "
          f"hold portfolio #{j + 1} of {problem.num_portfolios} "
          f"(mean {mean:.2%}, volatility {vol:.2%})")
    print(f"\nGoal success under the optimal policy ({args.paths:,} simulated markets, "
          f"seed {args.seed}; mean utility {result_dp.mean_utility:.3f} "
          f"+- {1.96 * result_dp.std_error:.3f}"
          + ("" if result_dp.bankruptcy_probability is None else
             f"; probability of bankruptcy {result_dp.bankruptcy_probability:.2%}") + "):")
    rows = []
    for entry, goal in zip(goals, problem.goals, strict=True):
        rows.append([_goal_name(goal), str(goal.time), _money(goal.levels[-1][0]) if
                     goal.num_levels == 1 else "", f"{goal.utility:g}" if goal.num_levels == 1
                     else "", f"{entry['probability']:.1%}"])
        if goal.num_levels > 1:
            for level in entry["levels"]:
                rows.append([f"  level {level['level']}", "", _money(level["cost"]),
                             f"{level['utility']:g}", f"{level['probability']:.1%}"])
    print(_table(["goal", "year", "cost", "utility", "P(reached)"], rows,
                 [False, True, True, True, True]))
    return 0


# ----------------------------------------------------------------------------- train
def _make_model(preset: str, problem: Any, seed: int, overrides: dict[str, Any]) -> Any:
    from gbwm_sb3.ppo.presets import make_preset_model

    return make_preset_model(preset, problem=problem, seed=seed, **overrides)


def _logger_formats() -> list[str]:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return ["csv"]
    return ["csv", "tensorboard"]


def _check_rollout(args: argparse.Namespace, problem: Any) -> None:
    """--rollout-trajectories x horizon within ``MAX_ROLLOUT_STEPS`` (SB3 allocates them)."""
    if args.rollout_trajectories is None:
        return
    steps = args.rollout_trajectories * problem.horizon
    if steps > MAX_ROLLOUT_STEPS:
        raise CLIError(
            f"--rollout-trajectories must be in [1, {MAX_ROLLOUT_STEPS // problem.horizon:,}] "
            f"for this problem (T = {problem.horizon}): a rollout holds at most "
            f"{MAX_ROLLOUT_STEPS:,} steps, got {args.rollout_trajectories:,} trajectories = "
            f"{steps:,} steps")


def _has_content(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _swap_in(staging: Path, out: Path) -> None:
    """Move every entry of ``staging`` into ``out``, replacing the entry of the same name.

    Replaced entries are first renamed into a sibling folder and deleted only once every
    new entry is in place, so an interruption leaves them there, not lost. The manifest
    goes last: until then ``out`` holds no manifest that mismatches its files.
    """
    from gbwm_sb3.model_io import MANIFEST_FILE

    replaced = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    old_manifest = out / MANIFEST_FILE
    if old_manifest.exists():
        os.replace(old_manifest, replaced / MANIFEST_FILE)
    entries = sorted(staging.iterdir(), key=lambda entry: entry.name == MANIFEST_FILE)
    for entry in entries:
        target = out / entry.name
        if target.exists() or target.is_symlink():
            os.replace(target, replaced / entry.name)
        os.replace(entry, target)
    shutil.rmtree(replaced, ignore_errors=True)


def cmd_train(args: argparse.Namespace) -> int:
    """Train into --out; over a non-empty --out (--force), train into a temporary sibling
    folder and move the results in only once the run has completed, so that an
    interrupted or failed run loses nothing that was there."""
    from gbwm_sb3.common.threads import configure_torch_threads

    problem = check_problem(args.problem)
    out = _check_output_dir(args.out, args.force, "--out")
    _check_rollout(args, problem)
    configure_torch_threads()
    overrides: dict[str, Any] = {}
    if args.rollout_trajectories is not None:
        overrides["n_trajectories_per_rollout"] = args.rollout_trajectories
    if args.learning_rate is not None:
        overrides["learning_rate"] = args.learning_rate
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    try:
        model = _make_model(args.preset, problem, args.seed, overrides)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(_describe_problem(problem, args.problem))
    dp = _solve_if_within(problem, args.problem)
    if dp is not None and not dp.expected_utility > 1e-6 * problem.total_utility:
        raise CLIError(
            f"practically no goal can be reached even under the optimal policy (optimal "
            f"expected utility {dp.expected_utility:.3g} of {problem.total_utility:g}): there "
            "is nothing to train for; check the goals' costs against the initial wealth")
    if not _has_content(out):
        out.mkdir(parents=True, exist_ok=True)
        return _train_into(out, out, args, problem, model, dp)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.training-",
                                        dir=out.absolute().parent))
    except OSError as exc:
        raise CLIError(f"--out {out}: cannot create a folder beside it to train in "
                       f"({exc.strerror or exc})") from None
    try:
        status = _train_into(staging, out, args, problem, model, dp)
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return status


def _train_into(work: Path, out: Path, args: argparse.Namespace, problem: Any, model: Any,
                dp: Any) -> int:
    """Train ``model`` writing logs, the best model and the model into ``work``; the
    messages name ``out``, where they end up. ``dp`` None (a plan beyond the DP): no
    efficiency callback and no best model; the model is scored against buy-and-hold."""
    from stable_baselines3.common.logger import configure

    from gbwm_sb3.evaluation.callback import GBWMEvalCallback
    from gbwm_sb3.evaluation.evaluator import evaluate
    from gbwm_sb3.evaluation.strategies import SB3Policy
    from gbwm_sb3.model_io import save_model
    from gbwm_sb3.ppo.presets import paper_total_timesteps

    model.set_logger(configure(str(work / LOG_DIR), _logger_formats()))
    callback = None if dp is None else GBWMEvalCallback(
        problem=problem, eval_every=args.eval_every, n_paths=args.eval_paths,
        seed=args.eval_seed, best_model_dir=work / "best", overwrite=True,
        preset_name=args.preset, dp_solution=dp)
    total = paper_total_timesteps(problem, args.trajectories)
    where = (f"logs in {work / LOG_DIR}" if work == out else
             f"logs in {work / LOG_DIR}, moved into {out} when the run completes")
    print(f"Training preset {args.preset!r} (seed {args.seed}) for {args.trajectories:,} "
          f"trajectories ({total:,} steps); {where}")
    start = time.perf_counter()
    model.learn(total_timesteps=total, callback=callback, progress_bar=not args.no_progress)
    train_seconds = time.perf_counter() - start
    reference = dp if dp is not None else _buy_and_hold(problem, args.eval_seed)
    name = "dp" if dp is not None else "buy_and_hold_coin_flip"
    report = evaluate({name: reference, "rl": SB3Policy(model, problem)}, problem,
                      n_paths=args.eval_paths, seed=args.eval_seed,
                      reference=name if dp is not None else None)
    metrics = {
        "efficiency": report["rl"].efficiency,
        "efficiency_ci": list(report["rl"].efficiency_ci or []),
        "mean_utility": report["rl"].mean_utility,
        "dp_mean_utility": report[name].mean_utility if dp is not None else None,
        "dp_expected_utility": dp.expected_utility if dp is not None else None,
        "buy_and_hold_mean_utility": report[name].mean_utility if dp is None else None,
        "eval_paths": args.eval_paths,
        "eval_seed": args.eval_seed,
        "best_efficiency": callback.best_efficiency if callback is not None else None,
        "train_seconds": train_seconds,
        "trajectories": int(model.num_timesteps // problem.horizon),
        "total_timesteps": int(model.num_timesteps),
        "evaluation_history": callback.history if callback is not None else [],
    }
    from gbwm_sb3.evaluation.critic_sources import model_reward_scale

    save_model(model, work, problem, args.preset, metrics, overwrite=True,
               extra={"problem_spec": args.problem, "train_seed": args.seed,
                      "reward_scale": model_reward_scale(model)})
    efficiency = metrics["efficiency"]
    efficiency_text = "undefined" if efficiency is None else f"{efficiency:.4f}"
    if callback is None:
        print(f"Trained {metrics['trajectories']:,} trajectories in {train_seconds:.1f} s. "
              f"Mean utility {report['rl'].mean_utility:.4f} (buy-and-hold with coin-flip "
              f"goals {report[name].mean_utility:.4f}) on {args.eval_paths:,} paths.")
    else:
        print(f"Trained {metrics['trajectories']:,} trajectories in {train_seconds:.1f} s. "
              f"Efficiency against DP: {efficiency_text} on {args.eval_paths:,} paths "
              f"(best during training {callback.best_efficiency:.4f}, kept in "
              f"{out / 'best'}).")
    print(f"Saved to {out}. Next: gbwm evaluate {out}; gbwm plot {out}")
    return 0


# ----------------------------------------------------------------------------- evaluate
def _buy_and_hold(problem: Any, seed: int) -> Any:
    """The paper's buy-and-hold benchmark: portfolio #8 (or the last), coin-flip goals."""
    from gbwm_sb3.evaluation.strategies import BuyAndHold

    return BuyAndHold(portfolio=min(7, problem.num_portfolios - 1), seed=seed, problem=problem)


def _policies(model: Any, problem: Any, dp: Any, seed: int,
              lookahead: Any = None) -> dict[str, Any]:
    """The strategies ``gbwm evaluate`` scores (without the DP and its hybrids for a plan
    beyond the DP, ``dp`` None; with ``lookahead``, a ``CriticLookahead``, beside RL)."""
    from gbwm_sb3.evaluation import strategies as s

    rl = s.SB3Policy(model, problem)
    policies = {
        "dp": dp,
        "rl": rl,
        **({} if lookahead is None else {"rl_critic_lookahead": lookahead}),
        "greedy_goals_rl_portfolios": s.GreedyGoals(rl),
        "buy_and_hold_coin_flip": _buy_and_hold(problem, seed),
        "random": s.RandomPolicy(problem, seed=seed),
    }
    if dp is None:
        del policies["dp"]
        return policies
    policies["dp_portfolios_rl_goals"] = s.Hybrid(goals_from=rl, portfolios_from=dp)
    policies["rl_portfolios_dp_goals"] = s.Hybrid(goals_from=dp, portfolios_from=rl)
    return policies


def _evaluate_dir(directory: str, paths: int, seed: int, lookahead: int = 0
                  ) -> tuple[Any, Any, Any, Any]:
    from gbwm_sb3.evaluation.evaluator import evaluate

    model, problem, manifest = _load_model_dir(directory)
    dp = _solve_if_within(problem, f"{directory}/problem.yaml")
    ahead = _critic_lookahead(model, problem, manifest, lookahead) if lookahead else None
    report = evaluate(_policies(model, problem, dp, seed, ahead), problem, n_paths=paths,
                      seed=seed, reference="dp" if dp is not None else None)
    return model, problem, dp, report


def _critic_lookahead(model: Any, problem: Any, manifest: dict[str, Any],
                      decisions: int) -> Any:
    """``CriticLookahead`` of a saved model: the reward scale it trained with from the
    manifest (``extra.reward_scale``; older models: their preset's)."""
    from gbwm_sb3.evaluation import CriticLookahead
    from gbwm_sb3.ppo.hyperparams import resolve_reward_scale
    from gbwm_sb3.ppo.registry import PRESETS

    scale = (manifest.get("extra") or {}).get("reward_scale")
    if scale is None:
        preset = PRESETS.get(str(manifest.get("preset")))
        if preset is None:
            raise CLIError(f"--lookahead: the model's manifest records no reward scale and "
                           f"its preset {manifest.get('preset')!r} is not registered here")
        scale = resolve_reward_scale(preset.overrides.get("reward_scale"), problem)
    return CriticLookahead(model, problem, decisions=decisions, reward_scale=float(scale))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gbwm_sb3.experiments.reporting import PAPER_FIGURE2
    from gbwm_sb3.plots import STRATEGY_LABELS

    if not args.no_save:
        check_path_text(args.directory, "DIR", "model directory path")
        if Path(args.directory).is_dir():
            check_output_file(Path(args.directory) / EVALUATION_FILE, "DIR")
    start = time.perf_counter()
    _, problem, _, report = _evaluate_dir(args.directory, args.paths, args.seed,
                                          args.lookahead)
    seconds = time.perf_counter() - start
    ng = _paper_num_goals(problem)
    data = {"directory": args.directory, "paper_num_goals": ng, "report": report.to_dict()}
    if not args.no_save:
        (Path(args.directory) / EVALUATION_FILE).write_text(json.dumps(data, indent=2) + "\n")
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    measure = ("efficiency = mean utility / DP mean utility" if "dp" in report.results
               else "beyond the DP: no efficiency")
    print(f"{args.paths:,} simulated markets (seed {args.seed}), the same for every strategy; "
          f"{measure} ({seconds:.1f} s)")
    rows = []
    for name, result in report.results.items():
        low, high = result.efficiency_ci or (math.nan, math.nan)
        paper = PAPER_FIGURE2.get(name, {}).get(ng) if ng else None
        if name == "dp":
            paper = 1.0 if ng else None
        rows.append([STRATEGY_LABELS.get(name, name), f"{result.mean_utility:.3f}",
                     f"{result.efficiency:.4f}" if result.efficiency is not None else "",
                     f"[{low:.4f}, {high:.4f}]" if result.efficiency_ci else "",
                     f"{paper:.3f}" if paper is not None else "-"])
        if result.bankruptcy_probability is not None:  # a plan with withdrawals
            rows[-1].append(f"{result.bankruptcy_probability:.4f}")
    header = ["strategy", "mean utility", "efficiency", "95% CI",
              f"paper (NG={ng})" if ng else "paper"]
    if rows and len(rows[0]) > len(header):
        header.append("P(bankrupt)")
    print(_table(header, rows, [False] + [True] * (len(header) - 1)))
    if not args.no_save:
        print(f"\nWritten to {Path(args.directory) / EVALUATION_FILE}")
    return 0


# ----------------------------------------------------------------------------- plot
def cmd_plot(args: argparse.Namespace) -> int:
    import gbwm_sb3.plots as plots

    directory = check_path_text(args.directory, "DIR", "model directory path")
    if not directory.is_dir():
        raise CLIError(f"DIR {directory}: not a model directory (no such directory)")
    out = _check_output_dir(directory / "plots" if args.out is None else args.out, args.force,
                            "--out")
    model, problem, dp, report = _evaluate_dir(args.directory, args.paths, args.seed)
    from gbwm_sb3.evaluation.strategies import SB3Policy

    rl = SB3Policy(model, problem)
    formats = tuple(args.formats)
    written: list[Path] = []
    mapped = {"rl": rl} if dp is None else {"dp": dp, "rl": rl}  # beyond the DP: RL alone
    written += plots.save_figure(plots.plot_policy_heatmaps(problem, mapped),
                                 out / "policy_heatmaps", formats)
    if isinstance(problem.market, RegimeMarket):  # one more map per other regime
        for index, regime_name in enumerate(problem.market.names):
            if index != problem.market.initial_index:
                figure = plots.plot_policy_heatmaps(problem, mapped, regime=index)
                stem = "policy_heatmaps_" + "".join(
                    c if c.isalnum() else "_" for c in regime_name.lower())
                written += plots.save_figure(figure, out / stem, formats)
    if problem.inflation is not None:  # and at a low and a high rate (the long-run sd)
        mean, spread = problem.inflation.stationary_moments()
        for label, rate in (("low", mean - spread), ("high", mean + spread)):
            figure = plots.plot_policy_heatmaps(problem, mapped, inflation=rate)
            written += plots.save_figure(figure, out / f"policy_heatmaps_inflation_{label}",
                                         formats)
    for name, policy in mapped.items():
        fig = plots.plot_wealth_fan(problem, policy, n_paths=min(args.paths, 20_000),
                                    seed=args.seed, name=name)
        written += plots.save_figure(fig, out / f"wealth_fan_{name}", formats)
    success = {name: [report[name].goal_success[key] for key in report.goal_keys()]
               for name in ("dp", "rl", "greedy_goals_rl_portfolios", "buy_and_hold_coin_flip")
               if name in report.results}
    written += plots.save_figure(plots.plot_goal_success(problem, success),
                                 out / "goal_success", formats)
    progress = directory / LOG_DIR / "progress.csv"
    if progress.is_file():
        try:
            fig = plots.plot_training_curves(progress, horizon=problem.horizon)
        except ValueError as exc:
            print(f"skipping training curves: {exc}", file=sys.stderr)
        else:
            written += plots.save_figure(fig, out / "training_curves", formats)
    else:
        print(f"no {progress} (model not trained by `gbwm train`): no training curves",
              file=sys.stderr)
    if dp is None:  # no efficiency beyond the DP
        for path in written:
            print(path)
        return 0
    ng = _paper_num_goals(problem) or len(problem.goals)
    results = {name: {ng: report[name].efficiency} for name in report.results if name != "dp"}
    from gbwm_sb3.experiments.reporting import PAPER_FIGURE2

    paper = PAPER_FIGURE2 if _paper_num_goals(problem) else None
    fig = plots.plot_efficiency_by_goals(results, paper,
                                         title=f"Efficiency against DP ({args.paths:,} paths)")
    written += plots.save_figure(fig, out / "efficiency", formats)
    for path in written:
        print(path)
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``gbwm`` argument parser (every command has ``--help``)."""
    from gbwm_sb3.common.version import __version__

    parser = argparse.ArgumentParser(
        prog="gbwm",
        description="Goals-based wealth management: solve, train, evaluate and plot problems.",
        epilog="PROBLEM: a problem file (.yaml/.yml/.json) or paper:NG with NG in 1, 2, 4, 8, 16. "
               "Run `gbwm COMMAND --help` for each command's options.")
    parser.add_argument("--version", action="version", version=f"gbwm-sb3 {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    solve = commands.add_parser(
        "solve", help="optimal expected utility, first-year decision, goal success odds",
        description="Solve PROBLEM exactly by dynamic programming and print the optimal "
                    "expected utility, the decision for the first year and the probability of "
                    "reaching each goal under the optimal policy (by simulation).")
    solve.add_argument("problem", metavar="PROBLEM", help="problem file or paper:NG")
    solve.add_argument("--paths", type=int_in(2, MAX_PATHS), default=20_000,
                       help="simulated markets for the goal probabilities (default 20,000)")
    solve.add_argument("--seed", type=int_in(0, at_most=MAX_SEED), default=0,
                       help="seed of the markets")
    solve.add_argument("--grid-density", type=float_in(5.0, 1000.0), default=None,
                       help="DP grid points per unit of log-wealth (default: the solver's)")
    solve.add_argument("--json", action="store_true", help="print the result as JSON")
    solve.set_defaults(func=cmd_solve)

    train = commands.add_parser(
        "train", help="train a PPO preset and save a model directory",
        description="Train PPO on PROBLEM with a preset and save the model, the problem, the "
                    "preset and the metrics in --out (a safe model directory). Efficiency "
                    "against DP is logged during training (TensorBoard and CSV in OUT/logs) "
                    "and the best model is kept in OUT/best.")
    train.add_argument("problem", metavar="PROBLEM", help="problem file or paper:NG")
    train.add_argument("--preset", choices=preset_names(), default="paper",
                       help="paper: the documented configuration (fast update path); "
                            "paper-stock: the same with stock SB3 updates; tuned: paper plus "
                            "measured improvements (default paper)")
    train.add_argument("--seed", type=int_in(0, at_most=MAX_SEED), default=0,
                       help="training seed (default 0)")
    train.add_argument("--out", required=True, metavar="DIR", help="output directory")
    train.add_argument("--trajectories", type=int_in(1, MAX_TRAJECTORIES), default=50_000,
                       help="training budget in trajectories (default 50,000, the paper's)")
    train.add_argument("--rollout-trajectories", type=int_in(1, MAX_N_ENVS), default=None,
                       help="trajectories per PPO rollout (default: the preset's, 4,800); "
                            f"times the horizon at most {MAX_ROLLOUT_STEPS:,} steps")
    train.add_argument("--batch-size", type=int_in(2, MAX_BATCH_SIZE), default=None,
                       help="minibatch size in steps; best a divisor of rollout trajectories x "
                            "horizon (default: the preset's: 256 for paper; tuned splits each "
                            "rollout into 20 equal minibatches)")
    train.add_argument("--learning-rate", type=float_in(1e-8, 1.0), default=None,
                       help="initial learning rate (default: the preset's, 0.01)")
    train.add_argument("--eval-every", type=int_in(1, MAX_EVAL_EVERY), default=2,
                       help="evaluate against DP every K PPO iterations (default 2)")
    train.add_argument("--eval-paths", type=int_in(2, MAX_PATHS), default=10_000,
                       help="simulated markets per evaluation (default 10,000)")
    train.add_argument("--eval-seed", type=int_in(0, at_most=MAX_SEED), default=12_345,
                       help="seed of the evaluation markets (default 12345)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--force", action="store_true",
                       help="write into --out even if it exists and is not empty (the run "
                            "trains in a folder beside it; its files replace those of the "
                            "same name only once it has completed)")
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser(
        "evaluate", help="RL against DP and the paper's benchmark strategies",
        description="Load a model directory safely and score, on the same simulated markets: "
                    "DP, the RL policy, greedy goals with RL portfolios, buy-and-hold of "
                    "portfolio #8 with coin-flip goals, random, and the two hybrids (the "
                    "paper's Figure 2). Writes DIR/evaluation.json.")
    evaluate.add_argument("directory", metavar="DIR", help="model directory from gbwm train")
    evaluate.add_argument("--paths", type=int_in(2, MAX_PATHS), default=100_000,
                          help="simulated markets (default 100,000, as in the paper)")
    evaluate.add_argument("--seed", type=int_in(0, at_most=MAX_SEED), default=0,
                          help="seed of the markets")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.add_argument("--lookahead", type=int_in(0, 64), default=0, metavar="K",
                          help="also score the model improved by one step of lookahead with "
                               "its own critic over its K likeliest decisions (0: off)")
    evaluate.add_argument("--no-save", action="store_true",
                          help=f"do not write DIR/{EVALUATION_FILE}")
    evaluate.set_defaults(func=cmd_evaluate)

    plot = commands.add_parser(
        "plot", help="write policy heatmaps, wealth fans, goal odds, training curves",
        description="Write the pictures of a model directory (PNG and SVG) to --out "
                    "(default DIR/plots): DP and RL policy heatmaps, wealth fan charts, goal "
                    "success probabilities, training curves and efficiency by strategy.")
    plot.add_argument("directory", metavar="DIR", help="model directory from gbwm train")
    plot.add_argument("--out", default=None, help="output directory (default DIR/plots)")
    plot.add_argument("--paths", type=int_in(2, MAX_PATHS), default=20_000,
                      help="simulated markets (default 20,000)")
    plot.add_argument("--seed", type=int_in(0, at_most=MAX_SEED), default=0,
                      help="seed of the markets")
    plot.add_argument("--formats", nargs="+", choices=("png", "svg", "pdf"),
                      default=["png", "svg"], help="file formats (default png svg)")
    plot.add_argument("--force", action="store_true",
                      help="write into --out even if it exists and is not empty")
    plot.set_defaults(func=cmd_plot)

    add_reproduce_parser(commands)
    add_tune_parser(commands)
    add_advise_parser(commands)
    add_fine_tune_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gbwm`` console script; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    for token in argv:
        # argparse turns "--opt=--" into an empty list, skipping the option's type check
        if token.startswith("--") and token.endswith("=--"):
            parser.error(f"argument {token[:-3]}: expected a value, got '--'")
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"gbwm {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file system failure during the work (disk full...)
        if isinstance(exc, BrokenPipeError):
            sys.stderr.close()
            return 0
        where = f": {exc.filename}" if exc.filename else ""
        print(f"gbwm {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"gbwm {args.command}: error: out of memory; ask for fewer paths, trajectories "
              "or a smaller problem", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gbwm {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(message: str) -> str:
    """A message of several lines as one: its lines joined by "; "."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
