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

Presets can also live in JSON files (``gbwm tune --export-preset`` writes them)::

    {"format": "gbwm-presets/1",
     "presets": {"fast": {"description": "...", "overrides": {...}, "fast": true}}}

:func:`load_presets` registers a file's presets. On import, this module loads the user
presets file (:func:`user_presets_paths`: the files listed in ``GBWM_PRESETS``, else
``$XDG_CONFIG_HOME/gbwm/presets.json`` when it exists), so every process that trains
(the CLI, sweep workers, which inherit the environment) knows the same presets.
"""

from __future__ import annotations

import json
import os
import re
import warnings
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
    "PRESET_NAME_PATTERN",
    "TUNED_HYPERPARAMS",
    "ROWS_PER_DECISION_FROM",
    "PRESETS_FILE_FORMAT",
    "USER_PRESETS_ENV",
    "get_preset",
    "load_presets",
    "loaded_presets_files",
    "preset_names",
    "register_preset",
    "save_preset",
    "user_presets_paths",
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
    "learning_rate_schedule",
    "decision_goal_head",
)

#: What a preset name may be: lower-case letters, digits, '-', '_', '.', not starting with
#: a punctuation mark.
PRESET_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


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
        if not isinstance(self.name, str) or not PRESET_NAME_PATTERN.match(self.name):
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


#: The ``tuned`` preset's ``portfolio_given_goal``: a portfolio row per decision where some
#: year has at least this many decisions. Chosen on three crowded problems drawn apart
#: from the per-client benchmark (``bench_crowded.crowded`` 100-102, one seed each;
#: docs/results/crowded): with 54 decisions in a year the rows raised efficiency from 0.953
#: to 0.971, with 27 they lowered it by 0.005 and 0.008. The benchmark's own runs with and
#: without the rows (the same pattern) were seen before the choice: its figures for this
#: setting are not held out from it.
ROWS_PER_DECISION_FROM = 32

#: Overrides of the ``tuned`` preset (why each one: docs/tuning.md). 20 minibatches per
#: rollout: 1,200 x T steps split evenly for any horizon T (960 steps each for T = 16).
TUNED_HYPERPARAMS: Mapping[str, Any] = MappingProxyType({
    "n_trajectories_per_rollout": 1200,
    "n_epochs": 16,
    "n_minibatches": 20,
    "reward_scale": "total",
    "portfolio_degree": 2,
    "decision_goal_head": "crowded",
    "portfolio_given_goal": ROWS_PER_DECISION_FROM,
})

PRESETS: dict[str, Preset] = {}
_LOADED_FILES: list[str] = []


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


# ------------------------------------------------------------------------------ preset files
#: ``format`` field of a presets file.
PRESETS_FILE_FORMAT = "gbwm-presets/1"
#: Environment variable: presets files to load on import, separated by ``os.pathsep``.
USER_PRESETS_ENV = "GBWM_PRESETS"


def user_presets_paths() -> list[str]:
    """The user presets files: ``GBWM_PRESETS`` (``os.pathsep``-separated) when set, else
    ``$XDG_CONFIG_HOME/gbwm/presets.json`` (``~/.config/...``) when that file exists."""
    raw = os.environ.get(USER_PRESETS_ENV)
    if raw is not None:
        return [part for part in raw.split(os.pathsep) if part]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    default = os.path.join(config, "gbwm", "presets.json")
    return [default] if os.path.isfile(default) else []


def _read_presets_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"presets file {path} is not valid JSON: {exc}") from None
    if (not isinstance(data, dict) or data.get("format") != PRESETS_FILE_FORMAT
            or not isinstance(data.get("presets"), dict)):
        raise ValueError(f"presets file {path} must be a JSON object with \"format\": "
                         f"\"{PRESETS_FILE_FORMAT}\" and a \"presets\" object")
    return data


def _preset_from_entry(name: str, entry: Any, path: str | os.PathLike[str]) -> Preset:
    if not isinstance(entry, dict) or not {"description", "overrides"} <= set(entry):
        raise ValueError(f"preset {name!r} in {path} must be an object with \"description\" "
                         "and \"overrides\" (and optionally \"fast\")")
    fast = entry.get("fast", True)
    if not isinstance(fast, bool):
        raise ValueError(f"preset {name!r} in {path}: \"fast\" must be true or false")
    return Preset(name, str(entry["description"]), dict(entry["overrides"]), fast=fast)


def load_presets(path: str | os.PathLike[str], replace: bool = False) -> list[Preset]:
    """Register every preset of a presets file and return them.

    A name already registered needs ``replace=True``, except that a preset identical to
    the registered one is accepted (loading the same file twice is harmless).
    """
    data = _read_presets_file(path)
    presets = [_preset_from_entry(name, entry, path) for name, entry in data["presets"].items()]
    for preset in presets:
        existing = PRESETS.get(preset.name)
        if existing == preset:
            continue
        if preset.name in PRESET_NAMES:
            raise ValueError(f"presets file {path}: {preset.name!r} is a built-in preset "
                             "name; choose another name")
        if existing is not None and not replace:
            raise ValueError(f"presets file {path}: a preset named {preset.name!r} is "
                             "already registered; pass replace=True to replace it")
        register_preset(preset, replace=True)
    if os.path.abspath(path) not in _LOADED_FILES:
        _LOADED_FILES.append(os.path.abspath(path))
    return presets


def loaded_presets_files() -> list[str]:
    """Absolute paths of the presets files loaded in this process, in loading order
    (worker processes are told to load them too)."""
    return list(_LOADED_FILES)


def save_preset(preset: Preset, path: str | os.PathLike[str], replace: bool = False,
                extra: Mapping[str, Any] | None = None) -> None:
    """Write ``preset`` into the presets file ``path`` (created if missing, other presets
    kept). ``extra`` (e.g. where the preset came from) is stored beside it for readers."""
    if preset.name in PRESET_NAMES:
        raise ValueError(f"{preset.name!r} is a built-in preset name; choose another name")
    data: dict[str, Any] = (_read_presets_file(path) if os.path.exists(path)
                            else {"format": PRESETS_FILE_FORMAT, "presets": {}})
    if preset.name in data["presets"] and not replace:
        raise ValueError(f"presets file {path} already holds a preset {preset.name!r}; "
                         "replace it explicitly")
    entry: dict[str, Any] = {"description": preset.description,
                             "overrides": dict(preset.overrides), "fast": preset.fast}
    if extra:
        entry["source"] = dict(extra)
    data["presets"][preset.name] = entry
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)


def _load_user_presets() -> None:
    """Load the user presets files; a broken file is reported, not fatal to the import."""
    for path in user_presets_paths():
        try:
            load_presets(path, replace=True)
        except (OSError, ValueError) as exc:
            warnings.warn(f"user presets not loaded: {exc}", stacklevel=2)


_load_user_presets()
