"""Reproduce Table I of the paper: mean RL efficiency and runtime per run for NG = 1..16.

The experiment lives in the package (``gbwm_sb3.experiments.table1``); this script is
``gbwm reproduce table1`` with the same options (``--help`` lists them). Runs are
appended to ``<out>/runs.jsonl`` as they finish: interrupt and rerun to resume.

    python examples/reproduce_table1.py --seeds 10 --workers 2 --preset paper tuned \
        --out docs/results/table1
"""

import sys

from gbwm_sb3.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "table1", *sys.argv[1:]]))
