"""Training wall time of configurations of a tuning study, back to back in one process.

    python docs/results/tuning/time_front.py sqlite:///gbwm-tune.db nsga2-ng4-ng16 0 16 10 15 12

Trains each trial's configuration on paper:16, seed 0, 50,000 trajectories, two rounds.
"""

from __future__ import annotations

import sys
import time
import warnings

import optuna

from gbwm_sb3.common.threads import configure_torch_threads
from gbwm_sb3.ppo.presets import make_preset_model, paper_total_timesteps
from gbwm_sb3.problem.model import paper_problem


def main(storage: str, study_name: str, trials: list[int]) -> None:
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configure_torch_threads(1)
    study = optuna.load_study(study_name=study_name, storage=storage)
    configs = {n: study.trials[n].user_attrs["overrides"] for n in trials}
    problem = paper_problem(16)
    total = paper_total_timesteps(problem, 50_000)
    for round_ in (1, 2):
        for number, overrides in configs.items():
            start = time.perf_counter()
            make_preset_model("paper", problem=problem, seed=0, **overrides).learn(total)
            print(f"round {round_} trial {number}: {time.perf_counter() - start:.1f} s",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]])
