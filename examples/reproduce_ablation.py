"""Ablation of the tuned preset: each change measured against the paper preset.

The experiment lives in the package (``gbwm_sb3.experiments.ablation``); this script is
``gbwm reproduce ablation`` with the same options (``--help`` lists them). Runs are
appended to ``<out>/runs.jsonl`` as they finish: interrupt and rerun to resume.

    python examples/reproduce_ablation.py --seeds 10 --goals 2 4 --workers 2 \
        --out docs/results/ablation
"""

import sys

from gbwm_sb3.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "ablation", *sys.argv[1:]]))
