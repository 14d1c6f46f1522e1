"""Training speed of the GBWM base case: naive SB3 setup vs the preset, stock vs fast update.

Configurations (each measured in its own subprocess, so peak memory is its own):

- ``naive``: what a user would first write,
  ``PPO("MlpPolicy", make_vec_env("GBWM-v0", n_envs=16), <documented hyperparameters>)``,
  with ``n_steps = 4800`` so a rollout is the same 76,800 steps, and torch's default threads;
- ``stock``: ``paper_ppo(fast=False)`` (GBWMVecEnv of 4,800, GBWMPolicy, SB3's ``PPO.train()``);
- ``fast``: ``paper_ppo(fast=True)`` (the same on ``FastPPO``).

For each: rollout and update time per PPO iteration (median over ``--iterations``
iterations), wall and CPU time of the full base case (4 goals, 50,000 trajectories;
median over ``--repeats`` runs, seeds 0, 1, ...), and peak resident memory.
The naive base case is slow; ``--naive-full-runs`` (default 1) sets how many full
runs it gets, 0 replaces them with an extrapolation from the per-iteration times
(labelled as such in the table).

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_training.py`` (about 5 minutes
on an idle 2-core machine), ``--quick`` for a one-minute smoke run,
``--configs fast,stock`` to pick configurations, ``--json out.json`` to save results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

CONFIGS = ("naive", "stock", "fast")
BASE_CASE_TRAJECTORIES = 50_000
NAIVE_N_ENVS = 16


def _build(config: str, seed: int):
    """The model of ``config`` (imports here so each worker pays its own import cost)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import gbwm_sb3  # noqa: F401  (registers GBWM-v0)
    from gbwm_sb3.ppo.presets import paper_ppo, resolve_hyperparams

    if config == "naive":
        hp = resolve_hyperparams()
        rollout = hp["n_trajectories_per_rollout"] * 16  # steps per PPO iteration
        env = make_vec_env("GBWM-v0", n_envs=NAIVE_N_ENVS, seed=seed)
        return PPO(
            "MlpPolicy", env, learning_rate=hp["learning_rate"],
            n_steps=rollout // NAIVE_N_ENVS, batch_size=hp["batch_size"],
            n_epochs=hp["n_epochs"], gamma=hp["gamma"], gae_lambda=hp["gae_lambda"],
            clip_range=hp["clip_range"], ent_coef=hp["ent_coef"], vf_coef=hp["vf_coef"],
            max_grad_norm=hp["max_grad_norm"],
            policy_kwargs=dict(net_arch=hp["net_arch"], activation_fn=hp["activation_fn"]),
            seed=seed, device="cpu", verbose=0,
        )
    return paper_ppo(seed=seed, fast=(config == "fast"))


def _total_timesteps(model, n_trajectories: int) -> int:
    horizon = 16
    env = model.get_env()
    if hasattr(env, "problem"):
        horizon = env.problem.horizon
    return n_trajectories * horizon


def _per_iteration(config: str, iterations: int, n_trajectories: int) -> dict[str, Any]:
    """Rollout and update seconds of each of the first ``iterations`` PPO iterations."""
    from gbwm_sb3.ppo.callbacks import with_metrics_callback

    model = _build(config, seed=100)
    total = _total_timesteps(model, n_trajectories)
    callback = None if config == "naive" else with_metrics_callback(None)
    total, callback = model._setup_learn(total, callback)
    callback.init_callback(model)
    callback.on_training_start(locals(), globals())
    rollout, update = [], []
    for _ in range(iterations):
        t0 = time.perf_counter()
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
        t1 = time.perf_counter()
        model._update_current_progress_remaining(model.num_timesteps, total)
        model.train()
        t2 = time.perf_counter()
        rollout.append(t1 - t0)
        update.append(t2 - t1)
    steps = model.n_steps * model.env.num_envs
    return {"rollout_s": rollout, "update_s": update, "steps_per_iteration": steps,
            "iterations_per_run": math.ceil(total / steps)}


def _full_runs(config: str, runs: int, n_trajectories: int) -> dict[str, Any]:
    wall, cpu, build = [], [], []
    for seed in range(runs):
        t0 = time.perf_counter()
        model = _build(config, seed=seed)
        t1, c1 = time.perf_counter(), time.process_time()
        model.learn(_total_timesteps(model, n_trajectories))
        wall.append(time.perf_counter() - t1)
        cpu.append(time.process_time() - c1)
        build.append(t1 - t0)
    return {"wall_s": wall, "cpu_s": cpu, "build_s": build}


def worker(config: str, iterations: int, runs: int, n_trajectories: int) -> dict[str, Any]:
    """Everything measured for one configuration (run in a fresh process)."""
    if config != "naive":
        from gbwm_sb3.common.threads import configure_torch_threads

        configure_torch_threads()
    import torch

    result: dict[str, Any] = {"config": config, "torch_threads": torch.get_num_threads()}
    result.update(_per_iteration(config, iterations, n_trajectories))
    if runs:
        result.update(_full_runs(config, runs, n_trajectories))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _run_worker(config: str, iterations: int, runs: int, n_trajectories: int) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", config,
           "--iterations", str(iterations), "--runs", str(runs),
           "--trajectories", str(n_trajectories)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(results: dict[str, dict[str, Any]]) -> str:
    """The results as a text table plus ratios."""
    rows = []
    header = (f"{'config':<7} {'rollout/it':>10} {'update/it':>10} {'iter':>8} "
              f"{'base case wall':>22} {'cpu':>8} {'peak RSS':>9}")
    rows.append(header)
    rows.append("-" * len(header))
    base: dict[str, float] = {}
    per_iter: dict[str, float] = {}
    for name, r in results.items():
        ro, up = _median(r["rollout_s"]), _median(r["update_s"])
        per_iter[name] = ro + up
        if r.get("wall_s"):
            wall = _median(r["wall_s"])
            spread = f"[{min(r['wall_s']):.1f}-{max(r['wall_s']):.1f}]" if len(r["wall_s"]) > 1 \
                else "(1 run)"
            wall_txt = f"{wall:7.1f} s {spread}"
            cpu_txt = f"{_median(r['cpu_s']):6.1f} s"
        else:
            wall = per_iter[name] * r["iterations_per_run"]
            wall_txt = f"{wall:7.1f} s (extrapolated)"
            cpu_txt = "-"
        base[name] = wall
        rows.append(f"{name:<7} {ro:>9.3f}s {up:>9.3f}s {ro + up:>7.2f}s {wall_txt:>22} "
                    f"{cpu_txt:>8} {r['peak_rss_mb']:>6.0f} MB")
    rows.append("")
    rows.append("per-iteration: median of " + ", ".join(
        f"{name} {len(r['rollout_s'])}" for name, r in results.items())
        + " iterations; base case: median wall of " + ", ".join(
        f"{name} {len(r.get('wall_s', []))}" for name, r in results.items()) + " full runs "
        "(0 = extrapolated: per-iteration time x iterations per run); cpu = process CPU time")
    rows.append("")
    if "fast" in results:
        for other in ("naive", "stock"):
            if other in results:
                rows.append(f"{other}/fast: base case {base[other] / base['fast']:.1f}x, "
                            f"per iteration {per_iter[other] / per_iter['fast']:.1f}x")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="comma-separated subset of naive,stock,fast")
    parser.add_argument("--repeats", type=int, default=3, help="full base-case runs (median)")
    parser.add_argument("--iterations", type=int, default=3,
                        help="PPO iterations timed for the per-iteration split (median)")
    parser.add_argument("--naive-iterations", type=int, default=None,
                        help="iterations timed for naive (default: --iterations)")
    parser.add_argument("--naive-full-runs", type=int, default=1,
                        help="full runs of the slow naive setup (0: extrapolate)")
    parser.add_argument("--trajectories", type=int, default=BASE_CASE_TRAJECTORIES,
                        help="training budget in trajectories (base case: 50,000)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 iterations' budget, 1 repeat, naive extrapolated")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.iterations, args.runs, args.trajectories)))
        return 0
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown config(s) {sorted(unknown)}; choose from {', '.join(CONFIGS)}")
    for name in ("repeats", "iterations", "trajectories"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.naive_iterations is not None and args.naive_iterations < 1:
        parser.error("--naive-iterations must be >= 1")
    if args.naive_full_runs < 0:
        parser.error("--naive-full-runs must be >= 0")
    if args.quick:
        args.trajectories, args.repeats, args.iterations, args.naive_full_runs = 9600, 1, 1, 0

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; budget {args.trajectories:,} trajectories")
    results: dict[str, dict[str, Any]] = {}
    for config in configs:
        runs = args.naive_full_runs if config == "naive" else args.repeats
        iterations = args.iterations
        if config == "naive" and args.naive_iterations is not None:
            iterations = args.naive_iterations
        t0 = time.perf_counter()
        results[config] = _run_worker(config, iterations, runs, args.trajectories)
        print(f"  {config}: done in {time.perf_counter() - t0:.0f} s "
              f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    print()
    print(summarise(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
