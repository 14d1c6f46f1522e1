"""Module paths of gbwm-sb3 0.1, still importable (with a DeprecationWarning).

Models saved by SB3's ``model.save`` store their policy class by module path
(``gbwm_sb3.policy.GBWMPolicy`` in 0.1), and user code may import the old flat
modules; a meta-path finder maps each old name to the module that holds its code now.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

__all__ = ["MOVED_MODULES", "install_module_aliases"]

#: Old module path (0.1) -> module path now.
MOVED_MODULES: dict[str, str] = {
    "gbwm_sb3.frontier": "gbwm_sb3.problem.frontier",
    "gbwm_sb3.problem_io": "gbwm_sb3.problem.files",
    "gbwm_sb3.dynamics": "gbwm_sb3.envs.dynamics",
    "gbwm_sb3.observation": "gbwm_sb3.envs.observation",
    "gbwm_sb3.env": "gbwm_sb3.envs.gbwm_env",
    "gbwm_sb3.vec_env": "gbwm_sb3.envs.vec_env",
    "gbwm_sb3.policy": "gbwm_sb3.policies",
    "gbwm_sb3.presets": "gbwm_sb3.ppo.presets",
    "gbwm_sb3.tuned": "gbwm_sb3.ppo.presets",
    "gbwm_sb3.preset_names": "gbwm_sb3.ppo.registry",
    "gbwm_sb3.fast_ppo": "gbwm_sb3.ppo.fast_ppo",
    "gbwm_sb3.callbacks": "gbwm_sb3.ppo.callbacks",
    "gbwm_sb3.eval_callback": "gbwm_sb3.evaluation.callback",
    "gbwm_sb3.strategies": "gbwm_sb3.evaluation.strategies",
    "gbwm_sb3.sweep": "gbwm_sb3.experiments.sweep",
    "gbwm_sb3.parallel": "gbwm_sb3.experiments.parallel",
    "gbwm_sb3.reporting": "gbwm_sb3.experiments.reporting",
    "gbwm_sb3.threads": "gbwm_sb3.common.threads",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self.target} in gbwm-sb3 0.2; import it from "
                      "there", DeprecationWarning, stacklevel=3)
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install_module_aliases() -> None:
    """Make the 0.1 module paths importable (idempotent)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
