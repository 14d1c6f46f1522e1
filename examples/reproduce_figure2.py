"""Reproduce Figure 2 of the paper: RL against the benchmark strategies and the hybrids.

The experiment lives in the package (``gbwm_sb3.experiments.figure2``); this script is
``gbwm reproduce figure2`` with the same options (``--help`` lists them). Runs are
appended to ``<out>/runs.jsonl`` as they finish: interrupt and rerun to resume.

    python examples/reproduce_figure2.py --seeds 5 --preset tuned --out docs/results/figure2
"""

import sys

from gbwm_sb3.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "figure2", *sys.argv[1:]]))
