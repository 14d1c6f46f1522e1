"""Where a pretrained network loses to the optimum: its gap per curriculum band.

    python benchmarks/band_gaps.py [--weights DIR [DIR ...]] [--mixture sampler|blend|...]
        [--per-band 12] [--seed 0]

For each weights directory (default: the shipped weights), draws ``--per-band`` fresh
problems of every band of :data:`gbwm_sb3.pretrained.curriculum.CURRICULUM_BANDS` (goal
count times funding ratio) from the training draw of ``--mixture`` (the sampler's
``DEFAULT_ENVELOPE`` by default: in-distribution for the shipped weights) and prints the
network's mean gap to the DP optimum per band (the performance-difference estimate of
its greedy decisions, a fraction of the optimum; what the curriculum measures before
each stage), and the gap over all bands weighted by how often the draw lands in each.
Every network sees the same problems (same seed).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch as th

from gbwm_sb3.cli.arguments import int_in
from gbwm_sb3.pretrained.curriculum import CURRICULUM_BANDS, measure_band_gaps
from gbwm_sb3.pretrained.loading import DEFAULT_WEIGHTS
from gbwm_sb3.pretrained.training import TRAINING_MIXTURES, PretrainConfig
from gbwm_sb3.pretrained.weights import load_network


def band_shares(draw, seed: int, count: int = 4000) -> np.ndarray:
    """How often ``draw`` lands in each band (``count`` draws)."""
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(CURRICULUM_BANDS))
    for _ in range(count):
        problem = draw(rng)
        counts[next(i for i, b in enumerate(CURRICULUM_BANDS) if b.contains(problem))] += 1
    return counts / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", nargs="+", default=[str(DEFAULT_WEIGHTS)])
    parser.add_argument("--mixture", choices=TRAINING_MIXTURES, default="sampler")
    parser.add_argument("--per-band", type=int_in(1, 1000), default=12)
    parser.add_argument("--seed", type=int_in(0, 2**32 - 1), default=0)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    draw = PretrainConfig(mixture=args.mixture).problem_draw()
    shares = band_shares(draw, args.seed + 1)
    columns = []
    for weights in args.weights:
        started = time.perf_counter()
        gaps = measure_band_gaps(load_network(weights), draw, CURRICULUM_BANDS, args.per_band,
                                 args.seed)
        columns.append(gaps)
        print(f"{weights}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"mixture {args.mixture}, {args.per_band} problems a band, seed {args.seed}\n")
    print("| band | share of draws | " + " | ".join(args.weights) + " |")
    print("|---|---|" + "---|" * len(args.weights))
    for i, band in enumerate(CURRICULUM_BANDS):
        cells = ["" if c[i] is None else f"{c[i]:.4f}" for c in columns]
        print(f"| {band.name} | {shares[i]:.3f} | " + " | ".join(cells) + " |")
    overall = [sum(s * (g or 0.0) for s, g in zip(shares, c, strict=True)) for c in columns]
    print("| **weighted by the draw** | 1 | " + " | ".join(f"{v:.4f}" for v in overall) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
