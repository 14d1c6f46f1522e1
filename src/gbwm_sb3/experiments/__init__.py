"""Experiments: resumable sweeps of training runs and the paper's tables and figure.

- :mod:`~gbwm_sb3.experiments.parallel`: independent jobs in a local process pool;
- :mod:`~gbwm_sb3.experiments.sweep`: grids of (configuration, problem, seed) runs with an
  append-only results file that resumes, and their summaries;
- :mod:`~gbwm_sb3.experiments.options`: the options every reproduction shares;
- :mod:`~gbwm_sb3.experiments.reporting`: the paper's published numbers, table writers;
- :mod:`~gbwm_sb3.experiments.table1`, :mod:`~gbwm_sb3.experiments.sensitivity`,
  :mod:`~gbwm_sb3.experiments.figure2`, :mod:`~gbwm_sb3.experiments.ablation`: the
  reproductions, also run by ``gbwm reproduce EXPERIMENT``.
"""

from __future__ import annotations

from gbwm_sb3.common.lazy import lazy_exports

_EXPORTS = {
    "SweepConfig": "gbwm_sb3.experiments.sweep",
    "SweepJob": "gbwm_sb3.experiments.sweep",
    "make_jobs": "gbwm_sb3.experiments.sweep",
    "run_sweep": "gbwm_sb3.experiments.sweep",
    "summarize": "gbwm_sb3.experiments.sweep",
    "SweepOptions": "gbwm_sb3.experiments.options",
    "reproduce_table1": "gbwm_sb3.experiments.table1",
    "reproduce_sensitivity": "gbwm_sb3.experiments.sensitivity",
    "reproduce_figure2": "gbwm_sb3.experiments.figure2",
    "reproduce_ablation": "gbwm_sb3.experiments.ablation",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
