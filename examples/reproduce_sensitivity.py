"""Reproduce Tables II and III of the paper: sensitivity of RL efficiency to hyperparameters.

The experiment lives in the package (``gbwm_sb3.experiments.sensitivity``); this script is
``gbwm reproduce sensitivity`` with the same options (``--help`` lists them). Runs are
appended to ``<out>/runs.jsonl`` as they finish: interrupt and rerun to resume.

    python examples/reproduce_sensitivity.py --seeds 3 --workers 2 --out docs/results/sensitivity
"""

import sys

from gbwm_sb3.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "sensitivity", *sys.argv[1:]]))
