"""Where the time of a GBWM training run goes: rollout, GAE, update, logging.

Profiles ``learn_paper`` (the preset, ``--path fast`` or ``--path stock``) with
cProfile on the process CPU clock (so other load on the machine inflates it
less than wall time) and prints one line per phase, then cProfile's top entries.
cProfile adds a per-Python-call overhead, which weighs more on the stock path
(many small Python calls per minibatch) than on the fast one.

Run: ``nice -n 10 .venv/bin/python benchmarks/profile_training.py --path fast``
(``--trajectories 14400`` for a 3-iteration run, ``--top 30`` for more entries).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time

# (phase, [(file suffix, function name), ...]): cumulative times of the entries are summed.
PHASES = [
    ("rollout (collect_rollouts) total", [("on_policy_algorithm.py", "collect_rollouts"),
                                          ("fast_ppo.py", "collect_rollouts")]),
    ("  policy pass (sampling)", [("policy.py", "forward"), ("fast_ppo.py", "sample")]),
    ("  env step (GBWMVecEnv)", [("base_vec_env.py", "step")]),
    ("  episode-info bookkeeping", [("base_class.py", "_update_info_buffer")]),
    ("  buffer add", [("buffers.py", "add")]),
    ("  GAE (compute_returns_and_advantage)", [("buffers.py", "compute_returns_and_advantage")]),
    ("update (train) total", [("ppo.py", "train"), ("fast_ppo.py", "train")]),
    ("  minibatch copies (RolloutBuffer.get)", [("buffers.py", "get")]),
    ("  forward (evaluate_actions / fused)", [("policy.py", "evaluate_actions"),
                                              ("fast_ppo.py", "forward")]),
    ("  backward (autograd / fused)", [("_tensor.py", "backward"), ("fast_ppo.py", "backward")]),
    ("  clip_grad_norm_", [("clip_grad.py", "clip_grad_norm_")]),
    ("  Adam step", [("adam.py", "step")]),
    ("  fused clip + Adam", [("fast_ppo.py", "clip_and_step")]),
    ("logging (Logger.dump)", [("logger.py", "dump")]),
]


def phase_table(stats: pstats.Stats, total: float) -> str:
    """One line per phase: CPU seconds and share of the profiled total."""
    lines = [f"{'phase':<44} {'cpu s':>8} {'share':>7}"]
    for name, keys in PHASES:
        seconds = 0.0
        for (filename, _line, func), (_cc, _nc, _tt, cumtime, _callers) in stats.stats.items():
            if any(filename.endswith(suffix) and func == fn for suffix, fn in keys):
                seconds += cumtime
        if seconds > 0:
            lines.append(f"{name:<44} {seconds:>8.2f} {100 * seconds / total:>6.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=("fast", "stock"), default="fast")
    parser.add_argument("--trajectories", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=15, help="cProfile entries to print")
    args = parser.parse_args(argv)
    if args.trajectories < 1:
        parser.error("--trajectories must be >= 1")

    from gbwm_sb3.ppo.presets import learn_paper, paper_ppo

    t0, c0 = time.perf_counter(), time.process_time()
    model = paper_ppo(fast=args.path == "fast", seed=0)
    t1, c1 = time.perf_counter(), time.process_time()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    learn_paper(model, n_trajectories=args.trajectories)
    profiler.disable()
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    print(f"path={args.path}, {args.trajectories:,} trajectories: build {t1 - t0:.2f} s wall "
          f"({c1 - c0:.2f} s cpu), learn {wall:.2f} s wall, {cpu:.2f} s cpu (profiled)\n")
    stats = pstats.Stats(profiler)
    print(phase_table(stats, cpu))
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
    print("\n" + out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
