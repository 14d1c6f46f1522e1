"""The package layout: layers import only downwards, the public API resolves, 0.1 paths load."""

from __future__ import annotations

import ast
import importlib
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import gbwm_sb3

PACKAGE = Path(gbwm_sb3.__file__).resolve().parent

#: Rooms of the package, lowest first: a module may import its own room and rooms below it.
LAYERS = ["_compat", "common", "problem", "envs", "policies", "ppo", "model_io", "dp",
          "evaluation", "plots", "experiments", "pretrained", "cli", "zoo"]


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "gbwm_sb3" else None


def _imports(path: Path) -> set[str]:
    """Absolute names of the gbwm_sb3 modules ``path`` imports (also inside functions)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = parts if path.name == "__init__.py" else parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("gbwm_sb3")}


def test_every_room_is_a_known_layer() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py")
             or (p.is_dir() and (p / "__init__.py").exists())}
    assert rooms == set(LAYERS)


def test_lower_layers_never_import_upper_ones() -> None:
    rank = {room: i for i, room in enumerate(LAYERS)}
    upward = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "__init__.py":
            continue
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        own = _room(".".join(rel.parts))
        for name in _imports(path):
            target = _room(name)
            if target in rank and own in rank and rank[target] > rank[own]:
                upward.append(f"{rel} imports {name}")
    assert upward == []


def test_public_names_resolve_and_the_env_is_registered() -> None:
    import gymnasium as gym

    for name in gbwm_sb3.__all__:
        assert getattr(gbwm_sb3, name) is not None, name
    assert "GBWM-v0" in gym.registry
    assert gym.registry["GBWM-v0"].entry_point == "gbwm_sb3.envs:GBWMEnv"


def test_importing_the_package_does_not_load_torch() -> None:
    code = ("import sys, gbwm_sb3, gbwm_sb3.ppo.registry, gbwm_sb3.cli.main\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_zoo_style_dotted_path() -> None:
    module, _, name = "gbwm_sb3.policies.GBWMPolicy".rpartition(".")
    assert getattr(importlib.import_module(module), name) is gbwm_sb3.GBWMPolicy


@pytest.mark.parametrize("old, new, name", [
    ("gbwm_sb3.policy", "gbwm_sb3.policies", "GBWMPolicy"),
    ("gbwm_sb3.fast_ppo", "gbwm_sb3.ppo.fast_ppo", "FastPPO"),
    ("gbwm_sb3.vec_env", "gbwm_sb3.envs.vec_env", "GBWMVecEnv"),
    ("gbwm_sb3.tuned", "gbwm_sb3.ppo.presets", "tuned_ppo"),
])
def test_module_paths_of_0_1_still_import_with_a_warning(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_classes_pickled_under_0_1_paths_unpickle() -> None:
    """SB3's model.save stores the policy class by module path (gbwm_sb3.policy in 0.1)."""
    sys.modules.pop("gbwm_sb3.policy", None)
    with pytest.warns(DeprecationWarning):
        cls = pickle.loads(b"cgbwm_sb3.policy\nGBWMPolicy\n.")
    assert cls is gbwm_sb3.GBWMPolicy
