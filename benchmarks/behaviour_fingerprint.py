"""Behaviour fingerprint of a source tree, to compare two trees bit for bit (refactors).

    mkdir /tmp/before && git archive <commit> src | tar -x -C /tmp/before
    .venv/bin/python benchmarks/behaviour_fingerprint.py /tmp/before/src /tmp/before.json
    .venv/bin/python benchmarks/behaviour_fingerprint.py src /tmp/after.json
    .venv/bin/python benchmarks/behaviour_fingerprint.py --compare /tmp/before.json /tmp/after.json

Fingerprints (hashes and printed reports) of: the DP's tables and ``act`` on the paper's
problems and four general-class problems; ``evaluate`` of five policies; ``GBWMEnv`` and
``GBWMVecEnv`` trajectories, masks and infos under random actions; ``simulate_paths`` and
``policy_grid``; the weights after a short training of the ``paper`` and ``tuned`` presets
and their evaluation. Both runs must use the same machine and environment (floats after
training differ across instruction sets). ``--compare`` ignores wall-clock fields.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _compare(before_path: str, after_path: str) -> int:
    def clean(value: Any) -> str:
        return re.sub(r'"(t|seconds)": [0-9.e-]+', "", str(value))

    before = json.loads(Path(before_path).read_text())
    after = json.loads(Path(after_path).read_text())
    differ = [k for k in before if clean(before[k]) != clean(after.get(k))]
    print(f"{len(before)} fingerprints, {len(differ)} differ: {differ[:20]}")
    return 1 if differ else 0


def _digest(array: Any) -> str:
    return hashlib.sha1(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()[:16]


def fingerprint(out_path: str) -> None:
    import torch as th
    from general_problems import random_general_problem, small_general_problem

    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.envs import GBWMEnv
    from gbwm_sb3.envs.vec_env import GBWMVecEnv
    from gbwm_sb3.evaluation import evaluate
    from gbwm_sb3.evaluation.strategies import (
        BuyAndHold,
        GreedyGoals,
        Hybrid,
        RandomPolicy,
        SB3Policy,
    )
    from gbwm_sb3.plots import policy_grid, simulate_paths
    from gbwm_sb3.ppo.presets import make_preset_model
    from gbwm_sb3.problem.model import paper_problem

    th.set_num_threads(1)
    out: dict[str, Any] = {}
    problems = {"paper4": paper_problem(4), "paper8": paper_problem(8),
                "small": small_general_problem()}
    rng = np.random.default_rng(5)
    for i in range(3):
        problems[f"rand{i}"] = random_general_problem(rng)
    for name, p in problems.items():
        actions = np.random.default_rng(0)
        dp = solve_dp(p)
        out[f"{name}.dp"] = [repr(dp.expected_utility), _digest(dp.value),
                             _digest(dp.decision_policy), _digest(dp.portfolio_policy)]
        wealth = np.geomspace(1, 400, 300)
        out[f"{name}.act"] = [_digest(np.concatenate(dp.act(t, wealth)))
                              for t in range(p.horizon + 1)]
        hold = 7 if p.num_portfolios > 7 else 1
        policies = {"dp": dp, "greedy": GreedyGoals(dp),
                    "bh": BuyAndHold(hold, seed=2, problem=p),
                    "random": RandomPolicy(p, seed=3), "hyb": Hybrid(GreedyGoals(dp), dp)}
        report = evaluate(policies, p, n_paths=20000, seed=1)
        out[f"{name}.eval"] = json.dumps(report.to_dict(), sort_keys=True, default=str)
        env = GBWMEnv(problem=p)
        obs, _ = env.reset(seed=3)
        trace: list[Any] = [obs]
        for t in range(p.horizon):
            action = np.array([actions.integers(0, env.num_decisions),
                               actions.integers(0, p.num_portfolios)])
            obs, reward, _, _, info = env.step(action)
            trace += [obs, [reward], [info["goals_taken"]]]
            out[f"{name}.envinfo{t}"] = json.dumps(info, sort_keys=True, default=str)
            out[f"{name}.mask{t}"] = _digest(env.action_masks())
        out[f"{name}.env"] = _digest(np.concatenate([np.ravel(x) for x in trace]).astype(float))
        vec = GBWMVecEnv(64, problem=p, seed=2, step_info=True)
        steps: list[Any] = [vec.reset()]
        for k in range(p.horizon * 2):
            batch = np.stack([actions.integers(0, vec.num_decisions, 64),
                              actions.integers(0, p.num_portfolios, 64)], 1)
            steps.append(vec.action_masks().astype(np.float32))
            obs_v, rewards, _, infos = vec.step(batch)
            steps += [obs_v, rewards[None], vec.goals_taken[None].astype(np.float32)]
            out[f"{name}.vecinfo{k}"] = json.dumps([infos[0], infos[5]], sort_keys=True,
                                                   default=str)
        out[f"{name}.vec"] = _digest(np.concatenate([np.ravel(x).astype(float) for x in steps]))
        out[f"{name}.stats"] = json.dumps(vec.pop_episode_statistics(), sort_keys=True)
        paths = simulate_paths(p, dp, 3000, seed=4)
        out[f"{name}.paths"] = [_digest(paths.wealth), _digest(paths.taken),
                                _digest(paths.portfolio), _digest(paths.utility),
                                None if paths.decision is None else _digest(paths.decision)]
        out[f"{name}.grid"] = [_digest(a) for a in policy_grid(p, GreedyGoals(dp), wealth)]
    for name, preset in (("paper4", "paper"), ("small", "paper"), ("paper4", "tuned"),
                         ("small", "tuned")):
        p = problems[name]
        model = make_preset_model(preset, problem=p, seed=0, n_trajectories_per_rollout=256,
                                  batch_size=256)
        model.learn(256 * p.horizon * 2)
        out[f"{name}.{preset}.train"] = _digest(np.concatenate(
            [x.detach().numpy().ravel() for x in model.policy.parameters()]))
        report = evaluate({"rl": SB3Policy(model, p),
                           "rls": SB3Policy(model, p, deterministic=False, seed=1)},
                          p, n_paths=5000, seed=2)
        out[f"{name}.{preset}.rl"] = str(report)
    Path(out_path).write_text(json.dumps(out, indent=0, sort_keys=True))
    print(f"{len(out)} fingerprints written to {out_path}")


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(_compare(sys.argv[2], sys.argv[3]))
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    fingerprint(sys.argv[2])
