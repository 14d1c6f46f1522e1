"""Named training presets as data: one registry for the CLI, sweeps, model files and docs.

A preset is a set of overrides of the documented configuration
(:data:`DOCUMENTED_CONFIGURATION`, the paper's values) plus training options, and the
update path it trains on. Adding a preset is adding an entry::

    from gbwm_sb3.ppo.registry import Preset, register_preset
    register_preset(Preset("wide", "tuned with 2 x 128 networks",
                           {**TUNED_HYPERPARAMS, "net_arch": [128, 128]}))

after which ``make_preset_model("wide", ...)``, ``gbwm train --preset wide`` (in the same
process) and sweeps accept it. This module imports nothing heavy, so the command line
can list the presets without loading PyTorch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "DOCUMENTED_CONFIGURATION",
    "HYPERPARAMETER_NAMES",
    "TRAINING_OPTIONS",
    "Preset",
    "PRESETS",
    "PRESET_NAMES",
    "TUNED_HYPERPARAMS",
    "get_preset",
    "preset_names",
    "register_preset",
]

#: The paper's base case plus the seeds' values (sources: ``gbwm_sb3.ppo.hyperparams``).
#: ``activation_fn`` by name; ``PAPER_HYPERPARAMS`` holds the torch class.
DOCUMENTED_CONFIGURATION: Mapping[str, Any] = MappingProxyType({
    "n_trajectories_per_rollout": 4800,
    "n_trajectories": 50_000,
    "learning_rate": 0.01,
    "batch_size": 256,
    "n_epochs": 4,
    "clip_range": 0.5,
    "gamma": 1.0,
    "gae_lambda": 0.95,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "net_arch": (64, 64),
    "activation_fn": "tanh",
})

#: Keys a preset may override (the training budget ``n_trajectories`` is ``learn``'s).
HYPERPARAMETER_NAMES: tuple[str, ...] = tuple(
    k for k in DOCUMENTED_CONFIGURATION if k != "n_trajectories")

#: Options beyond the documented configuration (see ``paper_ppo``).
TRAINING_OPTIONS: tuple[str, ...] = (
    "n_minibatches",
    "reward_scale",
    "portfolio_given_goal",
    "portfolio_degree",
    "portfolio_free_logits",
    "ent_coef_final",
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Preset:
    """A named configuration: ``overrides`` of the documented one, on ``FastPPO`` or stock PPO.

    ``fast=False`` trains on SB3's stock ``PPO.train()`` (``GBWMPPO``); the mathematics
    is the same. The overrides are checked here by name; their values are validated
    when a model is built (``gbwm_sb3.ppo.hyperparams.resolve_hyperparams``).
    """

    name: str
    description: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    fast: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"preset name must be lower-case letters, digits, '-', '_' or "
                             f"'.', starting with a letter or digit; got {self.name!r}")
        if not isinstance(self.overrides, Mapping):
            raise ValueError(f"overrides of preset {self.name!r} must be a mapping, "
                             f"got {type(self.overrides).__name__}")
        if "batch_size" in self.overrides and "n_minibatches" in self.overrides:
            raise ValueError(f"overrides of preset {self.name!r}: give batch_size or "
                             "n_minibatches, not both")
        allowed = (*HYPERPARAMETER_NAMES, *TRAINING_OPTIONS)
        unknown = sorted(set(self.overrides) - set(allowed))
        if unknown:
            raise ValueError(f"overrides of preset {self.name!r}: unknown key(s) {unknown}; "
                             f"allowed: {', '.join(allowed)}")
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    def settings(self) -> dict[str, Any]:
        """The documented configuration with this preset's overrides applied."""
        return {**DOCUMENTED_CONFIGURATION, **self.overrides}


#: Overrides of the ``tuned`` preset (why each one: docs/tuning.md). 20 minibatches per
#: rollout: 1,200 x T steps split evenly for any horizon T (960 steps each for T = 16).
TUNED_HYPERPARAMS: Mapping[str, Any] = MappingProxyType({
    "n_trajectories_per_rollout": 1200,
    "n_epochs": 16,
    "n_minibatches": 20,
    "reward_scale": "total",
    "portfolio_degree": 2,
})

PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset, replace: bool = False) -> Preset:
    """Add ``preset`` to the registry; an existing name needs ``replace=True``."""
    if not isinstance(preset, Preset):
        raise ValueError(f"preset must be a Preset, got {type(preset).__name__}")
    if preset.name in PRESETS and not replace:
        raise ValueError(f"a preset named {preset.name!r} exists; pass replace=True to "
                         "replace it")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    """The registered preset ``name`` (ValueError listing the names otherwise)."""
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    return preset


def preset_names() -> tuple[str, ...]:
    """Names of the registered presets, built-ins first."""
    return tuple(PRESETS)


register_preset(Preset(
    "paper", "the documented configuration (paper + seeds) on the fast update path"))
register_preset(Preset(
    "paper-stock", "the documented configuration on SB3's stock PPO.train()", fast=False))
register_preset(Preset(
    "tuned", "M 1200, 16 epochs of 20 minibatches, rewards / total utility, quadratic "
    "portfolio head",
    TUNED_HYPERPARAMS))

#: Names of the built-in presets.
PRESET_NAMES: tuple[str, ...] = preset_names()
