"""The gentler near-ties variant of docs/results/pretrained-near-ties (not a package option).

Run from the repository root:

    python docs/results/pretrained-near-ties/gentle_variant.py

The near-ties mixture with 15% of the draws re-valued (instead of 35%) and each goal's
exponent ``c`` uniform in [0, 0.3] (instead of [-0.15, 0.3]: no inverted levels); the
rest as run 2 (learning rate 1e-4, 120 rounds, from the shipped weights).
"""

from __future__ import annotations

import sys
from pathlib import Path

import gbwm_sb3.pretrained.mixture as mixture


def main() -> int:
    mixture.NEAR_TIES_SHARE = 0.15
    mixture._LEVEL_CONCAVITY = (0.0, 0.3)
    sys.path.insert(0, str(Path("examples").resolve()))
    import pretrain_teacher  # the script, with the module constants above

    return int(pretrain_teacher.main([
        "--out", "runs/near-ties-gentle", "--mixture", "near_ties", "--entry-reach",
        "--start", "shipped", "--rounds", "120", "--validate-every", "40",
        "--learning-rate", "1e-4"]))


if __name__ == "__main__":
    sys.exit(main())
