"""Speed of one PPO update on a problem of the general class (K > 2 goal logits).

    python benchmarks/bench_general_update.py [--repeats 5] [--problem PATH]
    python benchmarks/bench_general_update.py --problem household   # 27 decisions a year
    python benchmarks/bench_general_update.py --problem crowded:1    # 54 decisions a year

Collects one rollout of the tuned preset on the problem (default
examples/problems/family_plan.yaml, K = 6; ``household``: the plan of
``crowded_training_curves.py``, ``crowded:N``: problem N of ``bench_crowded.py``'s crowded
family, where the preset scores decisions from their features) and times ``train()``
on it, median of
``--repeats``: SB3's stock ``PPO.train()``, ``FastPPO`` on its autograd path and
``FastPPO`` on the fused hand-written update (the default path). Every run starts
from the same parameters and rollout.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
from stable_baselines3.common.logger import configure

from gbwm_sb3.common.threads import configure_torch_threads
from gbwm_sb3.ppo.presets import paper_ppo
from gbwm_sb3.ppo.registry import TUNED_HYPERPARAMS
from gbwm_sb3.problem.files import load_problem
from gbwm_sb3.problem.model import GBWMProblem

FAMILY_PLAN = Path(__file__).resolve().parents[1] / "examples" / "problems" / "family_plan.yaml"


def resolve(spec: str) -> GBWMProblem:
    """A problem file, ``household`` or ``crowded:N``."""
    if spec == "household":
        from crowded_training_curves import household

        return household()
    if spec.startswith("crowded:"):
        from bench_crowded import crowded

        return crowded(int(spec.split(":", 1)[1]))
    return load_problem(spec)


def _fill(model):
    _, callback = model._setup_learn(10**9, None)
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    return model


def _time_train(source, fast: bool, fused: bool, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        model = paper_ppo(problem=source.env.problem, seed=0, fast=fast, **TUNED_HYPERPARAMS)
        model.policy.load_state_dict(source.policy.state_dict())
        model.rollout_buffer = copy.deepcopy(source.rollout_buffer)
        model.set_logger(configure(None, []))
        if fast and not fused:  # the autograd path of FastPPO
            model._fused, model._fused_checked = None, model.policy
        np.random.seed(i)
        start = time.perf_counter()
        model.train()
        times.append(time.perf_counter() - start)
        if fast and fused:
            assert model._fused is not None and model._fused.verified
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--problem", default=str(FAMILY_PLAN))
    args = parser.parse_args()
    configure_torch_threads()
    problem = resolve(args.problem)
    source = _fill(paper_ppo(problem=problem, seed=0, fast=False, **TUNED_HYPERPARAMS))
    samples = source.rollout_buffer.buffer_size * source.rollout_buffer.n_envs
    head = "decision-scoring" if source.policy.decision_features else "per-index"
    print(f"{args.problem}: K = {problem.max_decisions} decisions, T = {problem.horizon}, "
          f"{samples:,} samples per update (tuned preset, {head} goal head), median of "
          f"{args.repeats}")
    print("| update | median (s) | min (s) |")
    print("|---|---|---|")
    # the first fused train() also verifies the fused path against autograd once
    for label, fast, fused in (("stock PPO.train()", False, False),
                               ("FastPPO, autograd path", True, False),
                               ("FastPPO, fused update", True, True)):
        times = _time_train(source, fast, fused, args.repeats)
        print(f"| {label} | {statistics.median(times):.3f} | {min(times):.3f} |")


if __name__ == "__main__":
    main()
