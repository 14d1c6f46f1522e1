"""The package layout: layers import only downwards, the public API resolves, 0.1 paths load.

The rules read the sources (``ast``), so each one also runs on a few synthetic lines
that break it, to show it can fail:

- a layer imports only its own layer and those below it (``LAYERS``);
- no module of the package imports the package root (``import gbwm_sb3``,
  ``from gbwm_sb3 import X``): the root re-exports the layers, so a module that reads it
  depends on every layer and on the order they load in;
- no private name (``_x``) is imported, or read as ``module._x``, across modules, in the
  package, the examples and the benchmarks (tests may reach inside);
- modules do not import each other in a cycle. Imports inside functions count too: they
  run later, which hides a cycle from Python but not from the reader (``cli.main`` and
  ``cli.tune`` needing each other). Imports under ``if TYPE_CHECKING:`` never run and do
  not count; nor does the import of a subpackage's ``__init__`` that Python makes before
  any of its modules (every module has it, and an ``__init__`` imports its modules).
"""

from __future__ import annotations

import ast
import importlib
import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import gbwm_sb3

PACKAGE = Path(gbwm_sb3.__file__).resolve().parent
REPOSITORY = PACKAGE.parent.parent

#: Rooms of the package, lowest first: a module may import its own room and rooms below it.
LAYERS = ["_compat", "common", "problem", "envs", "policies", "ppo", "model_io", "dp",
          "evaluation", "plots", "experiments", "pretrained", "cli", "zoo"]

#: The root's names: the nouns a user needs (everything else lives in its subpackage).
ROOT_NAMES = {
    "GBWMProblem", "Goal", "Portfolios", "paper_problem", "load_problem", "save_problem",
    "GBWMEnv", "GBWMVecEnv", "GBWMPolicy", "FastPPO", "make_preset_model", "learn_paper",
    "save_model", "load_model_safely", "solve_dp", "evaluate", "SB3Policy",
    "GBWMEvalCallback", "pretrained_policy", "fine_tune",
}

#: Names the root had in 0.2, now imported from their subpackage (a warning at the root).
MOVED_ROOT_NAMES = {
    "ENV_ID": "gbwm_sb3.envs",
    "register_envs": "gbwm_sb3.envs",
    "Decision": "gbwm_sb3.problem",
    "paper_portfolios": "gbwm_sb3.problem",
    "EfficientFrontier": "gbwm_sb3.problem",
    "efficient_frontier": "gbwm_sb3.problem",
    "MaskableGBWMPolicy": "gbwm_sb3.policies",
    "GBWMMetricsCallback": "gbwm_sb3.ppo",
    "EntropyDecayCallback": "gbwm_sb3.ppo",
    "PAPER_HYPERPARAMS": "gbwm_sb3.ppo",
    "TUNED_HYPERPARAMS": "gbwm_sb3.ppo",
    "PRESETS": "gbwm_sb3.ppo",
    "Preset": "gbwm_sb3.ppo",
    "register_preset": "gbwm_sb3.ppo",
    "paper_ppo": "gbwm_sb3.ppo",
    "tuned_ppo": "gbwm_sb3.ppo",
    "paper_total_timesteps": "gbwm_sb3.ppo",
    "DPSolution": "gbwm_sb3.dp",
    "EvaluationReport": "gbwm_sb3.evaluation",
    "GreedyGoals": "gbwm_sb3.evaluation",
    "BuyAndHold": "gbwm_sb3.evaluation",
    "RandomPolicy": "gbwm_sb3.evaluation",
    "Hybrid": "gbwm_sb3.evaluation",
    "configure_torch_threads": "gbwm_sb3.common",
}


# ----------------------------------------------------------------------------- the checker
@dataclass(frozen=True)
class Import:
    """One ``import`` or ``from ... import`` statement of a source file."""

    where: str  # "path:line"
    target: str  # the absolute module the statement names
    names: tuple[str, ...]  # the names taken from it (``from`` imports), else ()
    runs: bool  # False under ``if TYPE_CHECKING:``


def _module(path: str) -> tuple[str, bool]:
    """``(dotted module name, is a package __init__)`` of a path like ``gbwm_sb3/x/y.py``."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(tree: ast.AST, runs: bool = True) -> Iterator[tuple[ast.stmt, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, runs
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _import_nodes(node, runs=False)
        else:
            yield from _import_nodes(node, runs)


def imports(path: str, source: str) -> list[Import]:
    """The ``gbwm_sb3`` imports of one source file, also those inside functions."""
    module, is_package = _module(path)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node, runs in _import_nodes(ast.parse(source)):
        where = f"{path}:{node.lineno}"
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append(Import(where, target, tuple(a.name for a in node.names), runs))
        else:
            found.extend(Import(where, alias.name, (), runs) for alias in node.names)
    return [i for i in found if i.target.split(".")[0] == "gbwm_sb3"]


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "gbwm_sb3" else None


def _in_package(path: str) -> bool:
    return path.startswith("gbwm_sb3/")


def upward_imports(sources: Mapping[str, str]) -> list[str]:
    """Imports of a higher layer than the importing module's."""
    rank = {room: i for i, room in enumerate(LAYERS)}
    found = []
    for path, source in sources.items():
        own = _room(_module(path)[0])
        if not _in_package(path) or own not in rank:
            continue
        for imp in imports(path, source):
            for name in (imp.target, *(f"{imp.target}.{n}" for n in imp.names)):
                target = _room(name)
                if target in rank and rank[target] > rank[own]:
                    found.append(f"{imp.where} imports {name}")
    return found


def root_imports(sources: Mapping[str, str]) -> list[str]:
    """Imports of the package root from a module of the package."""
    return [f"{imp.where} imports the package root"
            for path, source in sources.items()
            if _in_package(path) and path != "gbwm_sb3/__init__.py"
            for imp in imports(path, source) if imp.target == "gbwm_sb3"]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_aliases(tree: ast.AST, modules: set[str]) -> dict[str, str]:
    """Local name -> gbwm_sb3 module it is bound to by an import."""
    aliases = {"gbwm_sb3": "gbwm_sb3"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def private_imports(sources: Mapping[str, str]) -> list[str]:
    """Private names taken from another module: imported, or read as ``module._name``."""
    modules = {_module(path)[0] for path in sources if _in_package(path)}
    found = []
    for path, source in sources.items():
        for imp in imports(path, source):
            found.extend(f"{imp.where} imports {imp.target}.{name}"
                         for name in imp.names if _private(name))
        tree = ast.parse(source)
        aliases = _module_aliases(tree, modules)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            base = _dotted(node.value)
            head, _, rest = (base or "").partition(".")
            module = aliases.get(head, "") + (f".{rest}" if rest else "")
            if module in modules:
                found.append(f"{path}:{node.lineno} reads {module}.{node.attr}")
    return found


def _edges(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` it imports (when its code runs)."""
    modules = {_module(path)[0] for path in sources}
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for path, source in sources.items():
        module = _module(path)[0]
        for imp in imports(path, source):
            if not imp.runs:
                continue
            submodules = {f"{imp.target}.{n}" for n in imp.names} & modules
            names_only = len(submodules) < len(imp.names) or not imp.names
            edges[module] |= submodules | ({imp.target} & modules if names_only else set())
        edges[module].discard(module)
    return edges


def import_cycles(sources: Mapping[str, str]) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    edges = _edges(sources)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(edges[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def _sources(root: Path, prefix: str = "") -> dict[str, str]:
    return {prefix + path.relative_to(root).as_posix(): path.read_text()
            for path in sorted(root.rglob("*.py"))}


@pytest.fixture(scope="module")
def package_sources() -> dict[str, str]:
    return _sources(PACKAGE, "gbwm_sb3/")


# ----------------------------------------------------------------------------- the rules
def test_every_room_is_a_known_layer() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py")
             or (p.is_dir() and (p / "__init__.py").exists())}
    assert rooms == set(LAYERS)


def test_lower_layers_never_import_upper_ones(package_sources: dict[str, str]) -> None:
    assert upward_imports(package_sources) == []


def test_no_module_imports_the_package_root(package_sources: dict[str, str]) -> None:
    assert root_imports(package_sources) == []


def test_no_private_name_crosses_modules(package_sources: dict[str, str]) -> None:
    others = {**_sources(REPOSITORY / "examples", "examples/"),
              **_sources(REPOSITORY / "benchmarks", "benchmarks/")}
    assert private_imports({**package_sources, **others}) == []


def test_no_import_cycles(package_sources: dict[str, str]) -> None:
    assert import_cycles(package_sources) == []


# ------------------------------------------------------------- each rule can fail
def test_the_rules_report_synthetic_bad_imports() -> None:
    bad = {
        "gbwm_sb3/problem/up.py": "from gbwm_sb3.ppo.presets import paper_ppo\n",
        "gbwm_sb3/ppo/root.py": "from gbwm_sb3 import paper_problem\n",
        "gbwm_sb3/ppo/bare.py": "def f():\n    import gbwm_sb3\n",
        "gbwm_sb3/ppo/relative.py": "from .. import paper_problem\n",
        "gbwm_sb3/pretrained/fast.py": "from gbwm_sb3.envs.obs import _log_ratio, WIDTH\n",
        "gbwm_sb3/envs/obs.py": "_log_ratio = WIDTH = 1\n",
        "gbwm_sb3/experiments/engines.py": ("from gbwm_sb3.experiments import parallel\n"
                                           "import gbwm_sb3.envs.obs as obs\n"
                                           "parallel._call(obs._log_ratio)\n"),
        "gbwm_sb3/experiments/parallel.py": "",
        "gbwm_sb3/cli/main.py": "from gbwm_sb3.cli.tune import add_tune_parser\n",
        "gbwm_sb3/cli/tune.py": "def run():\n    from gbwm_sb3.cli.main import check\n",
    }
    assert upward_imports(bad) == [
        "gbwm_sb3/problem/up.py:1 imports gbwm_sb3.ppo.presets",
        "gbwm_sb3/problem/up.py:1 imports gbwm_sb3.ppo.presets.paper_ppo",
    ]
    assert root_imports(bad) == [f"gbwm_sb3/ppo/{name} imports the package root"
                                 for name in ("root.py:1", "bare.py:2", "relative.py:1")]
    assert private_imports(bad) == [
        "gbwm_sb3/pretrained/fast.py:1 imports gbwm_sb3.envs.obs._log_ratio",
        "gbwm_sb3/experiments/engines.py:3 reads gbwm_sb3.experiments.parallel._call",
        "gbwm_sb3/experiments/engines.py:3 reads gbwm_sb3.envs.obs._log_ratio",
    ]
    assert import_cycles(bad) == [["gbwm_sb3.cli.main", "gbwm_sb3.cli.tune"]]


def test_the_rules_accept_what_they_allow() -> None:
    good = {
        "gbwm_sb3/__init__.py": "from gbwm_sb3.problem import model as _model\n",
        "gbwm_sb3/problem/__init__.py": "from gbwm_sb3.problem.model import Goal\n",
        "gbwm_sb3/problem/model.py": "from gbwm_sb3.common.version import __version__\n",
        "gbwm_sb3/common/version.py": "",
        "gbwm_sb3/ppo/a.py": ("from typing import TYPE_CHECKING\n"
                              "from gbwm_sb3.problem import Goal\n"
                              "if TYPE_CHECKING:\n    from gbwm_sb3.ppo.b import B\n"),
        "gbwm_sb3/ppo/b.py": "from gbwm_sb3.ppo.a import A\n",
    }
    assert upward_imports(good) == []
    assert root_imports(good) == []
    assert private_imports(good) == []
    assert import_cycles(good) == []


# ----------------------------------------------------------------------------- the surface
def test_the_root_exports_the_nouns_a_user_needs() -> None:
    assert set(gbwm_sb3.__all__) == ROOT_NAMES
    for name in gbwm_sb3.__all__:
        assert getattr(gbwm_sb3, name) is not None, name
    assert isinstance(gbwm_sb3.__version__, str) and gbwm_sb3.__version__


def test_the_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    assert gbwm_sb3.__version__ == version("gbwm-sb3")


@pytest.mark.parametrize("name, home", sorted(MOVED_ROOT_NAMES.items()))
def test_names_moved_off_the_root_still_import_with_a_warning(name: str, home: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"gbwm_sb3.{name} is deprecated; import it "
                                                f"from {home}"):
        value = getattr(gbwm_sb3, name)
    assert value is getattr(importlib.import_module(home), name)
    assert name not in gbwm_sb3.__all__ and name not in dir(gbwm_sb3)


def test_a_moved_name_warns_at_the_line_that_imports_it() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from gbwm_sb3 import PAPER_HYPERPARAMS  # noqa: F401
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name]


def test_unknown_root_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        gbwm_sb3.no_such_name  # noqa: B018


def test_importing_the_package_loads_only_the_problem_and_the_env() -> None:
    code = ("import sys, warnings\nwarnings.simplefilter('error', DeprecationWarning)\n"
            "import gbwm_sb3\n"
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('gbwm_sb3.')}))\n"
            "print('torch' in sys.modules, 'stable_baselines3' in sys.modules)\n"
            "from gbwm_sb3 import pretrained_policy, solve_dp\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    rooms, heavy = result.stdout.splitlines()
    assert rooms == "['_compat', 'common', 'envs', 'problem']"
    assert heavy == "False False"


def test_importing_the_package_does_not_load_torch() -> None:
    code = ("import sys, gbwm_sb3, gbwm_sb3.ppo.registry, gbwm_sb3.cli.main\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_public_names_resolve_and_the_env_is_registered() -> None:
    import gymnasium as gym

    assert "GBWM-v0" in gym.registry
    assert gym.registry["GBWM-v0"].entry_point == "gbwm_sb3.envs:GBWMEnv"


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
