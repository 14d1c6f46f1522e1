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

Nothing in the directory can make it allocate much either: every size is checked
against a documented bound before anything is built. The files are capped
(:data:`MAX_MANIFEST_BYTES`, :data:`MAX_TENSOR_FILE_BYTES`, and the problem file's own
:data:`~gbwm_sb3.problem.files.MAX_PROBLEM_FILE_BYTES`); the manifest's ``n_envs``,
``n_steps`` and their product are bounded by :data:`~gbwm_sb3.common.limits.MAX_N_ENVS`
and :data:`~gbwm_sb3.common.limits.MAX_ROLLOUT_STEPS` (the bounds training has),
``batch_size`` by the latter, ``n_epochs`` by :data:`MAX_N_EPOCHS`, ``net_arch`` by
:data:`MAX_LAYERS`, :data:`MAX_LAYER_WIDTH` and :data:`MAX_HIDDEN_WEIGHTS`, and the
problem's horizon by :data:`~gbwm_sb3.common.limits.MAX_HORIZON`. Weights that hold NaN
or infinite values are refused. Every refusal is an :class:`UnsafeModelFileError` naming
the file, the field and the allowed range (a problem file that cannot be read raises
:class:`~gbwm_sb3.problem.files.ProblemFileError`; both are ``ValueError``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from torch import nn

from gbwm_sb3.common.environment import software_versions
from gbwm_sb3.common.limits import MAX_N_ENVS, MAX_ROLLOUT_STEPS, MAX_SEED, check_int
from gbwm_sb3.common.untrusted import (
    MAX_JSON_DEPTH,
    check_zip_directory,
    load_json,
    read_capped,
    sha256_file,
    shown,
)
from gbwm_sb3.problem.files import MAX_PROBLEM_FILE_BYTES, load_problem, save_problem
from gbwm_sb3.problem.model import GBWMProblem

if TYPE_CHECKING:
    from sb3_contrib import MaskablePPO

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "MANIFEST_FILE",
    "PROBLEM_FILE",
    "WEIGHTS_FILE",
    "OPTIMIZER_FILE",
    "SB3_ZIP_FILE",
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_DEPTH",
    "MAX_TENSOR_FILE_BYTES",
    "MAX_N_EPOCHS",
    "MAX_LAYERS",
    "MAX_LAYER_WIDTH",
    "MAX_HIDDEN_WEIGHTS",
    "MAX_PORTFOLIO_DEGREE",
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

#: Largest ``manifest.json`` read, in bytes (4 MiB; save_model writes a few KB plus metrics).
MAX_MANIFEST_BYTES = 4 << 20
#: Deepest nesting of lists and mappings in ``manifest.json``.
MAX_MANIFEST_DEPTH = MAX_JSON_DEPTH
#: Largest ``policy.pt`` or ``optimizer.pt`` read, in bytes on disk and once unpacked
#: (256 MiB: the largest network ``net_arch`` may describe takes 64 MiB, Adam twice that).
MAX_TENSOR_FILE_BYTES = 256 << 20
#: Most PPO epochs over one rollout (``hyperparameters.n_epochs``).
MAX_N_EPOCHS = 1_000
#: Most hidden layers in each of ``net_arch``'s networks (policy ``pi``, value ``vf``).
MAX_LAYERS = 16
#: Widest hidden layer of ``net_arch``.
MAX_LAYER_WIDTH = 4_096
#: Most weights between consecutive hidden layers of ``net_arch``, both networks together
#: (2**24, 64 MiB of float32 weights).
MAX_HIDDEN_WEIGHTS = 1 << 24
#: Largest ``policy_kwargs.portfolio_degree`` (the policy also needs it below the number
#: of portfolios).
MAX_PORTFOLIO_DEGREE = 64

#: Activation functions a manifest may name (by class name in torch.nn).
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in (nn.Tanh, nn.ReLU, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU,
                                  nn.Sigmoid, nn.Softplus)
}
_POLICY_KWARGS = ("net_arch", "activation_fn", "ortho_init", "share_features_extractor",
                  "portfolio_given_goal", "portfolio_degree", "portfolio_free_logits",
                  "decision_goal_head")
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


def model_hyperparameters(model: PPO | MaskablePPO) -> dict[str, Any]:
    """The JSON-safe hyperparameters that rebuild ``model`` (learning rate as its end points)."""
    if model.batch_size is None:  # MaskablePPO's whole-rollout minibatch has no number to store
        raise TypeError("model.batch_size must be an integer to be stored, got None")
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


def _prepare_directory(directory: Path, overwrite: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{directory} already exists and is not empty; pass overwrite=True to replace "
            f"the model files in it ({', '.join(_OWN_FILES)})"
        )
    directory.mkdir(parents=True, exist_ok=True)


def _env_problem(model: PPO | MaskablePPO) -> GBWMProblem | None:
    """The problem of the GBWM env under ``model``'s VecEnv wrappers, if it has one."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    env = model.get_env()
    while isinstance(env, VecEnvWrapper):
        env = env.venv
    problem = getattr(env, "problem", None)
    return problem if isinstance(problem, GBWMProblem) else None


def save_model(model: PPO | MaskablePPO, directory: str | os.PathLike[str], problem: GBWMProblem,
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
    space = cast(spaces.MultiDiscrete, model.action_space)  # as the GBWM policies check
    n_portfolios = int(space.nvec[1])
    if n_portfolios != problem.num_portfolios or model.n_steps % problem.horizon != 0:
        raise ValueError(
            f"model does not fit problem: it has {n_portfolios} portfolios and n_steps "
            f"{model.n_steps}; the problem has {problem.num_portfolios} portfolios and horizon "
            f"{problem.horizon}"
        )
    if int(space.nvec[0]) != problem.max_decisions:
        raise ValueError(
            f"model does not fit problem: it chooses among {int(space.nvec[0])} "
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
        "versions": software_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {},
    }
    directory = Path(directory)
    _prepare_directory(directory, overwrite)
    # every file is written beside the directory first and moved in only once all are
    # complete: an interrupted save leaves the earlier model as it was
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.saving-"))
    try:
        save_problem(problem, staging / PROBLEM_FILE, overwrite=True,
                     comment="The problem this model was trained on.")
        torch.save(model.policy.state_dict(), staging / WEIGHTS_FILE)
        torch.save(model.policy.optimizer.state_dict(), staging / OPTIMIZER_FILE)
        model.save(staging / SB3_ZIP_FILE)
        manifest["files"] = {
            name: {"sha256": sha256_file(staging / name)}
            for name in (PROBLEM_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, SB3_ZIP_FILE)
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n",
                                             encoding="utf-8")
        # the old manifest goes first and the new one comes last, so the directory never
        # holds a manifest that vouches for files of another save
        (directory / MANIFEST_FILE).unlink(missing_ok=True)
        for name in (PROBLEM_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, SB3_ZIP_FILE, MANIFEST_FILE):
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


# ----------------------------------------------------------------------------- loading
def _int_in(path: Path, field: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``low..high``, else UnsafeModelFileError naming the field."""
    return check_int(value, f"{path}: {field}", low, high, style="dots", exact=True,
                     error=UnsafeModelFileError, show=shown)


def _check_net_arch(path: Path, value: Any) -> None:
    """``policy_kwargs.net_arch``: layer sizes (or ``{pi: [...], vf: [...]}``) within bounds."""
    field = "policy_kwargs.net_arch"
    if isinstance(value, dict):
        if not set(value) <= {"pi", "vf"}:
            raise UnsafeModelFileError(
                f"{path}: {field} must be a list of layer sizes or a mapping with the keys pi "
                f"and vf, got the keys {', '.join(shown(k) for k in list(value)[:5])}")
        networks = {f"{field}.{key}": layers for key, layers in value.items()}
        copies = 1
    else:
        networks, copies = {field: value}, 2  # a list describes both networks
    weights = 0
    for name, layers in networks.items():
        if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
            raise UnsafeModelFileError(
                f"{path}: {name} must be a list of at most {MAX_LAYERS} layer sizes, "
                f"got {shown(layers)}")
        for i, width in enumerate(layers):
            _int_in(path, f"{name}[{i}]", width, 1, MAX_LAYER_WIDTH)
        weights += copies * sum(a * b for a, b in zip(layers, layers[1:], strict=False))
    if weights > MAX_HIDDEN_WEIGHTS:
        raise UnsafeModelFileError(
            f"{path}: {field} describes {weights:,} weights between hidden layers, more than "
            f"the {MAX_HIDDEN_WEIGHTS:,} allowed")


def _check_hyperparameters(path: Path, hp: Mapping[str, Any]) -> None:
    """Every hyperparameter that sizes something, within its documented bound."""
    n_envs = _int_in(path, "hyperparameters.n_envs", hp["n_envs"], 1, MAX_N_ENVS)
    n_steps = _int_in(path, "hyperparameters.n_steps", hp["n_steps"], 1, MAX_ROLLOUT_STEPS)
    rollout = n_envs * n_steps
    if not 2 <= rollout <= MAX_ROLLOUT_STEPS:
        raise UnsafeModelFileError(
            f"{path}: hyperparameters.n_envs * hyperparameters.n_steps (the rollout) must be "
            f"in 2..{MAX_ROLLOUT_STEPS:,}, got {n_envs:,} * {n_steps:,} = {rollout:,}")
    _int_in(path, "hyperparameters.batch_size", hp["batch_size"], 2, MAX_ROLLOUT_STEPS)
    _int_in(path, "hyperparameters.n_epochs", hp["n_epochs"], 1, MAX_N_EPOCHS)


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated manifest of a model directory (plain JSON; nothing is executed).

    Raises :class:`UnsafeModelFileError` naming the file and the field for a manifest
    that is not valid JSON or is beyond a bound (see the module docstring).
    """
    path = Path(directory) / MANIFEST_FILE
    if not Path(directory).is_dir():
        raise UnsafeModelFileError(f"{directory}: not a model directory (no such directory)")
    try:
        raw = read_capped(path, MAX_MANIFEST_BYTES, "a model manifest", UnsafeModelFileError)
    except FileNotFoundError:
        raise UnsafeModelFileError(
            f"{path}: missing; {directory} is not a model directory written by save_model"
        ) from None
    manifest = load_json(raw, path, UnsafeModelFileError, MAX_MANIFEST_DEPTH)
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        raise UnsafeModelFileError(f"{path}: format must be {MODEL_FORMAT!r}")
    version = manifest.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise UnsafeModelFileError(
            f"{path}: format_version must be {MODEL_FORMAT_VERSION}, got {shown(version)}"
        )
    algorithms, policies = _algorithms(), _policies()
    algorithm, policy_name = manifest.get("algorithm"), manifest.get("policy_class")
    if not isinstance(algorithm, str) or algorithm not in algorithms:
        raise UnsafeModelFileError(
            f"{path}: algorithm must be one of {', '.join(sorted(algorithms))}, "
            f"got {shown(algorithm)}"
        )
    if not isinstance(policy_name, str) or policy_name not in policies \
            or policy_name != algorithms[algorithm][1]:
        raise UnsafeModelFileError(
            f"{path}: policy_class must be {algorithms[algorithm][1]!r} for {algorithm}, "
            f"got {shown(policy_name)}"
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
                                       f"got {shown(value)}")
    _check_hyperparameters(path, hp)
    seed = manifest.get("seed")
    if seed is not None:
        _int_in(path, "seed", seed, 0, MAX_SEED)
    kwargs = manifest.get("policy_kwargs")
    if not isinstance(kwargs, dict) or not set(kwargs) <= set(_POLICY_KWARGS):
        raise UnsafeModelFileError(
            f"{path}: policy_kwargs may only have the keys {', '.join(_POLICY_KWARGS)}"
        )
    for flag in ("ortho_init", "share_features_extractor", "portfolio_given_goal",
                 "portfolio_free_logits", "decision_goal_head"):
        if flag in kwargs and not isinstance(kwargs[flag], bool):
            raise UnsafeModelFileError(
                f"{path}: policy_kwargs.{flag} must be true or false, got {shown(kwargs[flag])}"
            )
    degree = kwargs.get("portfolio_degree")
    if degree is not None:
        _int_in(path, "policy_kwargs.portfolio_degree (or null)", degree, 1,
                MAX_PORTFOLIO_DEGREE)
    if "net_arch" in kwargs:
        _check_net_arch(path, kwargs["net_arch"])
    if "activation_fn" in kwargs and (not isinstance(kwargs["activation_fn"], str)
                                      or kwargs["activation_fn"] not in _ACTIVATIONS):
        raise UnsafeModelFileError(
            f"{path}: policy_kwargs.activation_fn must be one of {', '.join(_ACTIVATIONS)}, "
            f"got {shown(kwargs['activation_fn'])}"
        )
    return manifest


def _policy_kwargs_from_json(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if "activation_fn" in out:
        out["activation_fn"] = _ACTIVATIONS[out["activation_fn"]]
    return out


def _rebuild(manifest: Mapping[str, Any], problem: GBWMProblem, device: str,
             source: str | os.PathLike[str] = MANIFEST_FILE) -> PPO:
    """A fresh model with the manifest's classes and hyperparameters on ``problem``
    (``source``: the manifest's path, for errors)."""
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
            f"{source}: hyperparameters.n_steps ({hp['n_steps']}) must be a multiple of "
            f"the problem's horizon ({problem.horizon})"
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
    env = GBWMVecEnv(int(hp["n_envs"]), problem=problem, seed=seed,
                     decision_features=bool(kwargs.get("decision_goal_head", False)))
    return algo_cls(
        policy_cls, env, learning_rate=learning_rate, n_steps=int(hp["n_steps"]),
        batch_size=int(hp["batch_size"]), n_epochs=int(hp["n_epochs"]), gamma=hp["gamma"],
        gae_lambda=hp["gae_lambda"], clip_range=hp["clip_range"], ent_coef=hp["ent_coef"],
        vf_coef=hp["vf_coef"], max_grad_norm=hp["max_grad_norm"], policy_kwargs=kwargs,
        seed=seed, device=device,
    )


def _check_tensor_file_size(path: Path) -> None:
    """Refuse a ``.pt`` file over ``MAX_TENSOR_FILE_BYTES``, on disk or once unpacked, and
    one that is not torch's zip format (the older format declares the size of each
    storage in its pickle, so a small file could ask for any allocation)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UnsafeModelFileError(f"{path}: missing") from None
    if size > MAX_TENSOR_FILE_BYTES:
        raise UnsafeModelFileError(f"{path}: {size:,} bytes, more than the "
                                   f"{MAX_TENSOR_FILE_BYTES:,} bytes allowed for weights")
    check_zip_directory(path, UnsafeModelFileError)
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError,
            NotImplementedError) as exc:
        raise UnsafeModelFileError(f"{path}: refused: not an archive written by torch.save "
                                   f"(zip format), or a damaged one ({str(exc)[:200]})") from None
    if unpacked > MAX_TENSOR_FILE_BYTES:
        raise UnsafeModelFileError(
            f"{path}: unpacks to {unpacked:,} bytes, more than the "
            f"{MAX_TENSOR_FILE_BYTES:,} bytes allowed for weights")


def _non_finite(value: Any, depth: int = 0) -> str | None:
    """Where ``value`` (tensors in plain containers) holds NaN or infinity, else None."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            return None if bool(torch.isfinite(value).all()) else ""
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else ""
    if depth > MAX_MANIFEST_DEPTH:
        return ""
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, (list, tuple)) else ())
    for key, item in items:
        where = _non_finite(item, depth + 1)
        if where is not None:
            return f"[{shown(key, 40)}]{where}"
    return None


def _load_tensors(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers; errors become ValueErrors."""
    _check_tensor_file_size(path)
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
        limit = MAX_PROBLEM_FILE_BYTES if name == PROBLEM_FILE else MAX_TENSOR_FILE_BYTES
        size = path.stat().st_size
        if size > limit:  # checked before hashing: the hash reads the whole file
            raise UnsafeModelFileError(
                f"{path}: {size:,} bytes, more than the {limit:,} bytes allowed for "
                f"{'a problem file' if name == PROBLEM_FILE else 'weights'}")
        if sha256_file(path) != entry["sha256"]:
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
    ``UnsafeModelFileError`` (a ``ValueError``) for anything it will not load (a size
    beyond its bound, weights with NaN or infinite values...), and
    :class:`~gbwm_sb3.problem.files.ProblemFileError` (a ``ValueError`` too) for a
    ``problem.yaml`` that cannot be read.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    _check_hashes(directory, manifest)
    problem = load_problem(directory / PROBLEM_FILE)
    try:
        model = _rebuild(manifest, problem, device, directory / MANIFEST_FILE)
    except UnsafeModelFileError:
        raise
    except (ValueError, TypeError, AssertionError) as exc:  # SB3 and the policy check too
        raise UnsafeModelFileError(
            f"{directory / MANIFEST_FILE}: does not describe a model that can be built for "
            f"{PROBLEM_FILE}: {str(exc)[:300]}"
        ) from None
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
        if tensor.layout != torch.strided or tensor.is_complex() \
                or tensor.is_floating_point() != expected[name].is_floating_point():
            raise UnsafeModelFileError(
                f"{directory / WEIGHTS_FILE}: parameter {name} is a {tensor.layout} tensor of "
                f"{tensor.dtype}, the policy needs a dense tensor of {expected[name].dtype}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise UnsafeModelFileError(
                f"{directory / WEIGHTS_FILE}: parameter {name} holds NaN or infinite values; "
                "the weights are damaged (a diverged training run?)"
            )
    model.policy.load_state_dict(state, strict=True)
    if load_optimizer and (directory / OPTIMIZER_FILE).exists():
        optimizer_state = _load_tensors(directory / OPTIMIZER_FILE)
        where = _non_finite(optimizer_state)
        if where is not None:
            raise UnsafeModelFileError(
                f"{directory / OPTIMIZER_FILE}: state{where} holds NaN or infinite values "
                "(or is nested too deep)"
            )
        try:
            model.policy.optimizer.load_state_dict(optimizer_state)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError,
                RuntimeError) as exc:
            raise UnsafeModelFileError(
                f"{directory / OPTIMIZER_FILE}: does not fit the optimizer ({str(exc)[:300]})"
            ) from None
    num_timesteps = manifest.get("num_timesteps")
    if isinstance(num_timesteps, int) and not isinstance(num_timesteps, bool):
        model.num_timesteps = max(num_timesteps, 0)
    return model, problem
