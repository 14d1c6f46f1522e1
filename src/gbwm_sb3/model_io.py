"""Model files that can be loaded without executing code from the file.

SB3's ``PPO.load`` unpickles parts of its zip (the policy class, schedules, the
observation space...), and unpickling runs whatever code the file asks for, so
loading a model from an untrusted source is running an untrusted program.
:func:`save_model` writes a model directory::

    manifest.json   algorithm, policy class, preset, hyperparameters, versions, metrics (JSON)
    problem.yaml    the GBWM problem the model was trained on (a problem file)
    policy.pt       the policy's weights: a plain state_dict of tensors
    optimizer.pt    the optimizer's state (to continue training)
    model.zip       SB3's own file, for SB3 tooling; never read by load_model_safely

and :func:`load_model_safely` rebuilds the model from data only: the algorithm and
policy classes come from a fixed allow-list by name, the problem from the YAML file,
the network from the JSON hyperparameters, and the weights through
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
Nothing in the directory can make it import a module or call a function.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from torch import nn

from gbwm_sb3.problem.files import load_problem, save_problem
from gbwm_sb3.problem.model import GBWMProblem

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "MANIFEST_FILE",
    "PROBLEM_FILE",
    "WEIGHTS_FILE",
    "OPTIMIZER_FILE",
    "SB3_ZIP_FILE",
    "UnsafeModelFileError",
    "save_model",
    "load_model_safely",
    "read_manifest",
    "model_hyperparameters",
]

MODEL_FORMAT = "gbwm-sb3-model"
MODEL_FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
PROBLEM_FILE = "problem.yaml"
WEIGHTS_FILE = "policy.pt"
OPTIMIZER_FILE = "optimizer.pt"
SB3_ZIP_FILE = "model.zip"
_OWN_FILES = (MANIFEST_FILE, PROBLEM_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, SB3_ZIP_FILE)

#: Activation functions a manifest may name (by class name in torch.nn).
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in (nn.Tanh, nn.ReLU, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU,
                                  nn.Sigmoid, nn.Softplus)
}
_POLICY_KWARGS = ("net_arch", "activation_fn", "ortho_init", "share_features_extractor",
                  "portfolio_given_goal", "portfolio_degree", "portfolio_free_logits")
_HYPERPARAMETERS = ("n_envs", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda",
                    "clip_range", "ent_coef", "vf_coef", "max_grad_norm",
                    "learning_rate_initial", "learning_rate_final")


class UnsafeModelFileError(ValueError):
    """A model directory that the safe loader refuses (bad manifest, weights that are not
    plain tensors, a class outside the allow-list...)."""


# ----------------------------------------------------------------------------- allow-lists
def _algorithms() -> dict[str, tuple[type, str]]:
    """Algorithm name -> (class, policy-class name it must use). Imported lazily."""
    from sb3_contrib import MaskablePPO

    from gbwm_sb3.ppo.presets import GBWMPPO

    table: dict[str, tuple[type, str]] = {
        "PPO": (PPO, "GBWMPolicy"),
        "GBWMPPO": (GBWMPPO, "GBWMPolicy"),
        "MaskablePPO": (MaskablePPO, "MaskableGBWMPolicy"),
    }
    try:
        from gbwm_sb3.ppo.fast_ppo import FastPPO
    except ImportError:  # the fast update path is optional for loading
        pass
    else:
        table["FastPPO"] = (FastPPO, "GBWMPolicy")
    return table


def _policies() -> dict[str, type]:
    from gbwm_sb3.policies import GBWMPolicy, MaskableGBWMPolicy

    return {"GBWMPolicy": GBWMPolicy, "MaskableGBWMPolicy": MaskableGBWMPolicy}


# ----------------------------------------------------------------------------- saving
def _schedule_value(value: Any, progress: float) -> float:
    return float(value(progress)) if callable(value) else float(value)


def model_hyperparameters(model: PPO) -> dict[str, Any]:
    """The JSON-safe hyperparameters that rebuild ``model`` (learning rate as its end points)."""
    return {
        "n_envs": int(model.n_envs),
        "n_steps": int(model.n_steps),
        "batch_size": int(model.batch_size),
        "n_epochs": int(model.n_epochs),
        "gamma": float(model.gamma),
        "gae_lambda": float(model.gae_lambda),
        "clip_range": _schedule_value(model.clip_range, 1.0),
        "ent_coef": float(model.ent_coef),
        "vf_coef": float(model.vf_coef),
        "max_grad_norm": float(model.max_grad_norm),
        "learning_rate_initial": _schedule_value(model.lr_schedule, 1.0),
        "learning_rate_final": _schedule_value(model.lr_schedule, 0.0),
    }


def _policy_kwargs_to_json(policy_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in policy_kwargs.items():
        if key not in _POLICY_KWARGS:
            raise ValueError(
                f"policy_kwargs[{key!r}] cannot be stored as data; save_model supports "
                f"{', '.join(_POLICY_KWARGS)} (use model.save for other models)"
            )
        if key == "activation_fn":
            name = getattr(value, "__name__", None)
            if _ACTIVATIONS.get(name or "") is not value:
                raise ValueError(
                    f"policy_kwargs['activation_fn'] must be one of torch.nn."
                    f"{{{', '.join(_ACTIVATIONS)}}}, got {value!r}"
                )
            out[key] = name
        else:
            out[key] = json.loads(json.dumps(value))
    return out


def _json_safe(value: Any, path: str) -> Any:
    """``value`` with numpy scalars/arrays turned into JSON types; ValueError naming ``path``."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist(), path)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise ValueError(f"{path} must be JSON data (numbers, strings, lists, mappings), "
                     f"got {type(value).__name__}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    import gymnasium
    import sb3_contrib
    import stable_baselines3

    from gbwm_sb3 import __version__

    return {
        "gbwm_sb3": __version__,
        "stable_baselines3": stable_baselines3.__version__,
        "sb3_contrib": sb3_contrib.__version__,
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _prepare_directory(directory: Path, overwrite: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{directory} already exists and is not empty; pass overwrite=True to replace "
            f"the model files in it ({', '.join(_OWN_FILES)})"
        )
    directory.mkdir(parents=True, exist_ok=True)


def _env_problem(model: PPO) -> GBWMProblem | None:
    """The problem of the GBWM env under ``model``'s VecEnv wrappers, if it has one."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    env = model.get_env()
    while isinstance(env, VecEnvWrapper):
        env = env.venv
    problem = getattr(env, "problem", None)
    return problem if isinstance(problem, GBWMProblem) else None


def save_model(model: PPO, directory: str | os.PathLike[str], problem: GBWMProblem,
               preset_name: str | None = None, metrics: Mapping[str, Any] | None = None,
               overwrite: bool = False, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Save ``model`` trained on ``problem`` as a model directory; returns its path.

    Writes the manifest (``preset_name``, hyperparameters, policy kwargs, versions,
    ``metrics``), ``problem.yaml``, the weights as plain state_dicts and SB3's zip.
    Refuses a non-empty existing directory unless ``overwrite=True`` (then only the
    files listed above are replaced).
    """
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    if preset_name is not None and (not isinstance(preset_name, str) or not preset_name):
        raise ValueError(f"preset_name must be a non-empty string or None, got {preset_name!r}")
    algorithms = _algorithms()
    algorithm = type(model).__name__
    if algorithm not in algorithms or type(model) is not algorithms[algorithm][0]:
        raise ValueError(
            f"model must be one of {', '.join(sorted(algorithms))} (got {type(model).__name__})"
        )
    policy_name = type(model.policy).__name__
    if _policies().get(policy_name) is not type(model.policy):
        raise ValueError(f"model.policy must be one of {', '.join(_policies())}, "
                         f"got {type(model.policy).__name__}")
    n_portfolios = int(model.action_space.nvec[1])
    if n_portfolios != problem.num_portfolios or model.n_steps % problem.horizon != 0:
        raise ValueError(
            f"model does not fit problem: it has {n_portfolios} portfolios and n_steps "
            f"{model.n_steps}; the problem has {problem.num_portfolios} portfolios and horizon "
            f"{problem.horizon}"
        )
    if int(model.action_space.nvec[0]) != problem.max_decisions:
        raise ValueError(
            f"model does not fit problem: it chooses among {int(model.action_space.nvec[0])} "
            f"decisions a year; the problem has up to {problem.max_decisions}"
        )
    env_problem = _env_problem(model)
    if env_problem is not None and env_problem != problem:
        raise ValueError("model does not fit problem: its environment runs a different problem "
                         "(pass the problem the model was trained on)")
    manifest = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "algorithm": algorithm,
        "policy_class": policy_name,
        "preset": preset_name,
        "seed": None if model.seed is None else int(model.seed),
        "num_timesteps": int(model.num_timesteps),
        "hyperparameters": model_hyperparameters(model),
        "policy_kwargs": _policy_kwargs_to_json(model.policy_kwargs),
        "metrics": _json_safe(dict(metrics or {}), "metrics"),
        "extra": _json_safe(dict(extra or {}), "extra"),
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {},
    }
    directory = Path(directory)
    _prepare_directory(directory, overwrite)
    save_problem(problem, directory / PROBLEM_FILE, overwrite=True,
                 comment="The problem this model was trained on.")
    torch.save(model.policy.state_dict(), directory / WEIGHTS_FILE)
    torch.save(model.policy.optimizer.state_dict(), directory / OPTIMIZER_FILE)
    model.save(directory / SB3_ZIP_FILE)
    manifest["files"] = {
        name: {"sha256": _sha256(directory / name)}
        for name in (PROBLEM_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, SB3_ZIP_FILE)
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")
    return directory


# ----------------------------------------------------------------------------- loading
def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated manifest of a model directory (plain JSON; nothing is executed)."""
    path = Path(directory) / MANIFEST_FILE
    if not Path(directory).is_dir():
        raise UnsafeModelFileError(f"{directory}: not a model directory (no such directory)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnsafeModelFileError(
            f"{path}: missing; {directory} is not a model directory written by save_model"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnsafeModelFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        raise UnsafeModelFileError(f"{path}: format must be {MODEL_FORMAT!r}")
    version = manifest.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise UnsafeModelFileError(
            f"{path}: format_version must be {MODEL_FORMAT_VERSION}, got {version!r}"
        )
    algorithms, policies = _algorithms(), _policies()
    algorithm, policy_name = manifest.get("algorithm"), manifest.get("policy_class")
    if algorithm not in algorithms:
        raise UnsafeModelFileError(
            f"{path}: algorithm must be one of {', '.join(sorted(algorithms))}, got {algorithm!r}"
        )
    if policy_name not in policies or policy_name != algorithms[algorithm][1]:
        raise UnsafeModelFileError(
            f"{path}: policy_class must be {algorithms[algorithm][1]!r} for {algorithm}, "
            f"got {policy_name!r}"
        )
    hp = manifest.get("hyperparameters")
    if not isinstance(hp, dict) or set(hp) != set(_HYPERPARAMETERS):
        raise UnsafeModelFileError(
            f"{path}: hyperparameters must have exactly the keys {', '.join(_HYPERPARAMETERS)}"
        )
    for key, value in hp.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise UnsafeModelFileError(f"{path}: hyperparameters.{key} must be a number, "
                                       f"got {value!r}")
    kwargs = manifest.get("policy_kwargs")
    if not isinstance(kwargs, dict) or not set(kwargs) <= set(_POLICY_KWARGS):
        raise UnsafeModelFileError(
            f"{path}: policy_kwargs may only have the keys {', '.join(_POLICY_KWARGS)}"
        )
    for flag in ("ortho_init", "share_features_extractor", "portfolio_given_goal",
                 "portfolio_free_logits"):
        if flag in kwargs and not isinstance(kwargs[flag], bool):
            raise UnsafeModelFileError(
                f"{path}: policy_kwargs.{flag} must be true or false, got {kwargs[flag]!r}"
            )
    degree = kwargs.get("portfolio_degree")
    if degree is not None and (isinstance(degree, bool) or not isinstance(degree, int)
                               or degree < 1):
        raise UnsafeModelFileError(
            f"{path}: policy_kwargs.portfolio_degree must be null or an integer >= 1, "
            f"got {degree!r}"
        )
    if "activation_fn" in kwargs and kwargs["activation_fn"] not in _ACTIVATIONS:
        raise UnsafeModelFileError(
            f"{path}: policy_kwargs.activation_fn must be one of {', '.join(_ACTIVATIONS)}, "
            f"got {kwargs['activation_fn']!r}"
        )
    return manifest


def _policy_kwargs_from_json(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if "activation_fn" in out:
        out["activation_fn"] = _ACTIVATIONS[out["activation_fn"]]
    return out


def _rebuild(manifest: Mapping[str, Any], problem: GBWMProblem, device: str) -> PPO:
    """A fresh model with the manifest's classes and hyperparameters on ``problem``."""
    from stable_baselines3.common.utils import LinearSchedule

    from gbwm_sb3.common.threads import configure_torch_threads
    from gbwm_sb3.envs.vec_env import GBWMVecEnv
    from gbwm_sb3.ppo.presets import paper_ppo

    configure_torch_threads()
    hp = manifest["hyperparameters"]
    kwargs = _policy_kwargs_from_json(manifest["policy_kwargs"])
    algorithm = manifest["algorithm"]
    seed = manifest.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else None
    if int(hp["n_steps"]) % problem.horizon != 0:
        raise UnsafeModelFileError(
            f"hyperparameters.n_steps ({hp['n_steps']}) must be a multiple of the problem's "
            f"horizon ({problem.horizon})"
        )
    if (manifest.get("preset") == "paper" and algorithm in ("FastPPO", "GBWMPPO")
            and hp["learning_rate_final"] == 0.0 and hp["n_steps"] == problem.horizon
            and set(kwargs) <= {"net_arch", "activation_fn"}):
        return paper_ppo(
            problem=problem, seed=seed, fast=algorithm == "FastPPO", device=device,
            n_trajectories_per_rollout=int(hp["n_envs"]), learning_rate=hp["learning_rate_initial"],
            batch_size=int(hp["batch_size"]), n_epochs=int(hp["n_epochs"]),
            clip_range=hp["clip_range"], gamma=hp["gamma"], gae_lambda=hp["gae_lambda"],
            ent_coef=hp["ent_coef"], vf_coef=hp["vf_coef"], max_grad_norm=hp["max_grad_norm"],
            **kwargs,
        )
    algo_cls = _algorithms()[algorithm][0]
    policy_cls = _policies()[manifest["policy_class"]]
    lr0, lr1 = float(hp["learning_rate_initial"]), float(hp["learning_rate_final"])
    learning_rate: float | Callable[[float], float] = (
        lr0 if lr0 == lr1 else LinearSchedule(lr0, lr1, 1.0)
    )
    env = GBWMVecEnv(int(hp["n_envs"]), problem=problem, seed=seed)
    return algo_cls(
        policy_cls, env, learning_rate=learning_rate, n_steps=int(hp["n_steps"]),
        batch_size=int(hp["batch_size"]), n_epochs=int(hp["n_epochs"]), gamma=hp["gamma"],
        gae_lambda=hp["gae_lambda"], clip_range=hp["clip_range"], ent_coef=hp["ent_coef"],
        vf_coef=hp["vf_coef"], max_grad_norm=hp["max_grad_norm"], policy_kwargs=kwargs,
        seed=seed, device=device,
    )


def _load_tensors(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers; errors become ValueErrors."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UnsafeModelFileError(f"{path}: missing") from None
    except Exception as exc:  # weights_only raises UnpicklingError (and others) on any object
        raise UnsafeModelFileError(
            f"{path}: refused: the file holds more than plain tensors, or is damaged "
            f"(torch.load(weights_only=True) said: {str(exc).splitlines()[0]})"
        ) from None


def _check_hashes(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Integrity check: the files the loader reads are the ones the manifest was written with."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise UnsafeModelFileError(f"{directory / MANIFEST_FILE}: files must be a mapping")
    for name in (PROBLEM_FILE, WEIGHTS_FILE, OPTIMIZER_FILE):
        entry = files.get(name)
        path = directory / name
        if name == OPTIMIZER_FILE and entry is None:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise UnsafeModelFileError(f"{directory / MANIFEST_FILE}: files.{name}.sha256 missing")
        if not path.is_file():
            raise UnsafeModelFileError(f"{path}: missing")
        if _sha256(path) != entry["sha256"]:
            raise UnsafeModelFileError(
                f"{path}: changed since the model was saved (its SHA-256 differs from the "
                "manifest's); the model directory is damaged or was edited"
            )


def load_model_safely(directory: str | os.PathLike[str], device: str = "cpu",
                      *, load_optimizer: bool = True) -> tuple[PPO, GBWMProblem]:
    """Load a model directory written by :func:`save_model` without executing code from it.

    Returns ``(model, problem)``. The model is rebuilt from the stored problem and
    hyperparameters (classes from an allow-list) and its weights are loaded with
    ``torch.load(weights_only=True)``; ``model.zip`` is never opened. Raises
    ``UnsafeModelFileError`` (a ``ValueError``) for anything it will not load.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    _check_hashes(directory, manifest)
    problem = load_problem(directory / PROBLEM_FILE)
    model = _rebuild(manifest, problem, device)
    state = _load_tensors(directory / WEIGHTS_FILE)
    expected = model.policy.state_dict()
    if not isinstance(state, dict) or set(state) != set(expected):
        raise UnsafeModelFileError(
            f"{directory / WEIGHTS_FILE}: the weights do not fit the policy described by the "
            "manifest (different parameter names)"
        )
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or tensor.shape != expected[name].shape:
            raise UnsafeModelFileError(
                f"{directory / WEIGHTS_FILE}: parameter {name} has shape "
                f"{getattr(tensor, 'shape', None)}, the policy needs {tuple(expected[name].shape)}"
            )
    model.policy.load_state_dict(state, strict=True)
    if load_optimizer and (directory / OPTIMIZER_FILE).exists():
        try:
            model.policy.optimizer.load_state_dict(_load_tensors(directory / OPTIMIZER_FILE))
        except (ValueError, KeyError, TypeError) as exc:
            raise UnsafeModelFileError(
                f"{directory / OPTIMIZER_FILE}: does not fit the optimizer ({exc})"
            ) from None
    num_timesteps = manifest.get("num_timesteps")
    if isinstance(num_timesteps, int) and not isinstance(num_timesteps, bool):
        model.num_timesteps = max(num_timesteps, 0)
    return model, problem
