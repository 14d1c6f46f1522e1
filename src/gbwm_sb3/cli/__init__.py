"""The ``gbwm`` command line: solve, train, evaluate, plot, advise, reproduce, tune.

:mod:`~gbwm_sb3.cli.main` builds the parser and runs the commands;
:mod:`~gbwm_sb3.cli.reproduce`, :mod:`~gbwm_sb3.cli.tune` and :mod:`~gbwm_sb3.cli.advise`
add their sub-commands; :mod:`~gbwm_sb3.cli.arguments` (option types that name the
allowed range) and :mod:`~gbwm_sb3.cli.checks` (output locations, the PROBLEM argument)
are the helpers they share.
"""

from __future__ import annotations

from gbwm_sb3.cli.main import main

__all__ = ["main"]
