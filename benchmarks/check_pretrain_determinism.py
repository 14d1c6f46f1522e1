"""Does one pretraining stage give the same weights twice? (by PyTorch thread count)

    .venv/bin/python benchmarks/check_pretrain_determinism.py --threads 1 2

Runs one small stage of ``pretrain`` (512 trajectories x 16 steps, 2 epochs) twice per
thread count in fresh directories and prints whether the final weights are identical
and the largest difference. With 1 thread they are identical; with 2, PyTorch's parallel
accumulation in the backward pass can make them differ in the last bits.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from gbwm_sb3.pretrained.training import PretrainConfig, pretrain

CONFIG = PretrainConfig(total_timesteps=8192, stage_timesteps=8192, n_envs=512, n_steps=16,
                        batch_size=4096, n_epochs=2, pool_size=64, validation_problems=1,
                        validation_paths=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for threads in args.threads:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [Path(tmp) / "a", Path(tmp) / "b"]
            for run in runs:
                pretrain(CONFIG, run, threads=threads, log=None, progress=False)
            with np.load(runs[0] / "final" / "weights.npz") as a, \
                    np.load(runs[1] / "final" / "weights.npz") as b:
                same = all(np.array_equal(a[k], b[k]) for k in a.files)
                diff = max(float(np.abs(a[k] - b[k]).max()) for k in a.files)
        print(f"threads {threads}: identical {same}, largest difference {diff:.3g}")


if __name__ == "__main__":
    main()
