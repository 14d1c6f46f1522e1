"""The ``gbwm`` command line: solve, train, evaluate, plot, reproduce.

:mod:`~gbwm_sb3.cli.main` builds the parser and runs the commands;
:mod:`~gbwm_sb3.cli.sweep_options` holds the options every experiment shares.
"""

from __future__ import annotations

from gbwm_sb3.cli.main import main

__all__ = ["main"]
