"""The network's gap to the optimum on each round's fresh training draws, by window of
rounds, for DP-teacher runs (their ``state.json``).

    python docs/results/pretrained-decision-reach/training_gaps.py A-state.json [...]

The gap is the one ``teach`` measures (performance-difference estimate on the network's
own paths, a fraction of the optimum; docs/pretrained.md, "Pretraining with the DP as
teacher"): how far the network is from the DP on problems of its own training mixture,
that is in-distribution, before it trains on them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

WINDOW = 40


def main(argv: list[str]) -> int:
    print("| run | " + " | ".join(f"rounds {i * WINDOW + 1}-{(i + 1) * WINDOW}"
                                   for i in range(4)) + " |")
    print("|---|" + "---|" * 4)
    for name in argv:
        history = json.loads(Path(name).read_text())["history"]
        gaps = np.array([entry["mean_gap"] for entry in history], dtype=float)
        cells = [f"{np.nanmean(gaps[i:i + WINDOW]):.4f}" if gaps[i:i + WINDOW].size else ""
                 for i in range(0, 4 * WINDOW, WINDOW)]
        print(f"| {Path(name).name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
