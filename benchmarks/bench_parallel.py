"""Parallel training runs: do two runs on two cores take about as long as one?

Times, with ``gbwm_sb3.experiments.parallel.run_parallel`` (one process per run, one torch thread
each), the base case of the documented configuration (``paper_ppo``, 4 goals, 50,000
trajectories by default):

- ``1 run, 1 worker``: one run alone;
- ``2 runs, 1 worker``: two runs one after the other (the serial baseline);
- ``N runs, N workers``: N runs at once, N = ``--workers`` (default: the core count).

Each figure is the median over ``--repeats`` of the wall time of the whole batch,
worker start-up included. Run it on an otherwise idle machine: other load shares the
cores with the workers.

    nice -n 10 .venv/bin/python benchmarks/bench_parallel.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from gbwm_sb3.experiments.parallel import JobFailure, run_parallel


def train_base_case(job: tuple[int, int]) -> float:
    """Train one base-case run (seed, trajectories); return its own training seconds."""
    from gbwm_sb3.ppo.presets import learn_paper, paper_ppo

    seed, trajectories = job
    model = paper_ppo(seed=seed)
    start = time.perf_counter()
    learn_paper(model, n_trajectories=trajectories)
    return time.perf_counter() - start


def batch_seconds(n_runs: int, workers: int, trajectories: int) -> tuple[float, list[float]]:
    """Wall seconds for ``n_runs`` runs on ``workers`` processes, and each run's own time."""
    start = time.perf_counter()
    inner = []
    for job, result in run_parallel(train_base_case,
                                    [(seed, trajectories) for seed in range(n_runs)],
                                    workers=workers):
        if isinstance(result, JobFailure):
            raise RuntimeError(f"run {job} failed:\n{result.traceback}")
        inner.append(result)
    return time.perf_counter() - start, inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--trajectories", type=int, default=50_000)
    args = parser.parse_args()
    if args.repeats < 1 or args.workers < 1 or args.trajectories < 1:
        parser.error("--repeats, --workers and --trajectories must be integers >= 1")

    cases = [("1 run, 1 worker", 1, 1), ("2 runs, 1 worker", 2, 1),
             (f"{args.workers} runs, {args.workers} workers", args.workers, args.workers)]
    results = {}
    for label, n_runs, workers in cases:
        walls, inners = [], []
        for _ in range(args.repeats):
            wall, inner = batch_seconds(n_runs, workers, args.trajectories)
            walls.append(wall)
            inners.extend(inner)
        results[label] = (statistics.median(walls), min(walls), max(walls),
                          statistics.median(inners))
        print(f"{label:22s} batch wall {results[label][0]:6.1f} s "
              f"[{results[label][1]:.1f}-{results[label][2]:.1f}]   "
              f"training per run {results[label][3]:5.1f} s", flush=True)

    one = results["1 run, 1 worker"][0]
    serial = results["2 runs, 1 worker"][0]
    parallel = results[cases[2][0]][0]
    print(f"\n{args.workers} runs on {args.workers} workers / 1 run alone: "
          f"{parallel / one:.2f}x the wall time (1.00 = perfect scaling)")
    throughput = (args.workers / parallel) / (2 / serial)
    print(f"runs per second, {args.workers} workers vs 1 worker: {throughput:.2f}x")


if __name__ == "__main__":
    main()
