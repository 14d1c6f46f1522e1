"""PPO for GBWM on Stable-Baselines3: named presets, the fast update and training callbacks.

- :mod:`~gbwm_sb3.ppo.registry`: the named presets as data (imports nothing heavy);
- :mod:`~gbwm_sb3.ppo.hyperparams`: the documented configuration with the source of every
  value, and validation of overrides;
- :mod:`~gbwm_sb3.ppo.presets`: building and training a preset's model (``paper_ppo``,
  ``tuned_ppo``, ``make_preset_model``, ``learn_paper``);
- :mod:`~gbwm_sb3.ppo.fast_ppo`: ``FastPPO``, SB3's PPO with a lean update loop;
- :mod:`~gbwm_sb3.ppo.fused_update`: its hand-written forward and backward pass for
  ``GBWMPolicy``;
- :mod:`~gbwm_sb3.ppo.callbacks`: training metrics and the entropy-coefficient schedule.

Names are imported on first use, so ``gbwm_sb3.ppo.registry`` loads without PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gbwm_sb3.common.lazy import lazy_exports

_EXPORTS = {
    "PRESETS": "gbwm_sb3.ppo.registry",
    "PRESET_NAMES": "gbwm_sb3.ppo.registry",
    "Preset": "gbwm_sb3.ppo.registry",
    "get_preset": "gbwm_sb3.ppo.registry",
    "register_preset": "gbwm_sb3.ppo.registry",
    "TUNED_HYPERPARAMS": "gbwm_sb3.ppo.registry",
    "PAPER_HYPERPARAMS": "gbwm_sb3.ppo.hyperparams",
    "PAPER_HYPERPARAM_SOURCES": "gbwm_sb3.ppo.hyperparams",
    "GBWMPPO": "gbwm_sb3.ppo.presets",
    "paper_ppo": "gbwm_sb3.ppo.presets",
    "tuned_ppo": "gbwm_sb3.ppo.presets",
    "make_preset_model": "gbwm_sb3.ppo.presets",
    "learn_paper": "gbwm_sb3.ppo.presets",
    "paper_total_timesteps": "gbwm_sb3.ppo.presets",
    "FastPPO": "gbwm_sb3.ppo.fast_ppo",
    "GBWMMetricsCallback": "gbwm_sb3.ppo.callbacks",
    "EntropyDecayCallback": "gbwm_sb3.ppo.callbacks",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover
    from gbwm_sb3.ppo.callbacks import EntropyDecayCallback, GBWMMetricsCallback  # noqa: F401
    from gbwm_sb3.ppo.fast_ppo import FastPPO  # noqa: F401
    from gbwm_sb3.ppo.hyperparams import PAPER_HYPERPARAM_SOURCES, PAPER_HYPERPARAMS  # noqa: F401
    from gbwm_sb3.ppo.presets import (  # noqa: F401
        GBWMPPO,
        learn_paper,
        make_preset_model,
        paper_ppo,
        paper_total_timesteps,
        tuned_ppo,
    )
    from gbwm_sb3.ppo.registry import (  # noqa: F401
        PRESET_NAMES,
        PRESETS,
        TUNED_HYPERPARAMS,
        Preset,
        get_preset,
        register_preset,
    )
