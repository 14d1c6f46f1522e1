"""Names of the built-in training presets, importable without PyTorch.

The command line builds its parser from them before any heavy import;
``gbwm_sb3.presets.make_preset_model`` builds the models.
"""

from __future__ import annotations

__all__ = ["PRESET_NAMES"]

#: ``paper``: the documented configuration on the fast update path; ``paper-stock``: the
#: same on SB3's stock ``PPO.train()``; ``tuned``: the measured improvements (``gbwm_sb3.tuned``).
PRESET_NAMES: tuple[str, ...] = ("paper", "paper-stock", "tuned")
