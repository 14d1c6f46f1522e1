"""The universal policy's weights in a safe format: a JSON manifest and plain arrays.

A weights directory holds::

    manifest.json   format, version, network shape, observation and action sizes,
                    the envelope it was trained for, training metadata, sha256 of weights.npz
    weights.npz     one float32 array per tensor of the network's state_dict

``weights.npz`` is read with ``numpy.load(allow_pickle=False)``: numbers only, nothing in
the directory can make Python import a module or call a function. The network is
rebuilt from the manifest's JSON shape and the arrays are copied into it, each one
checked against the expected name and shape.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from gbwm_sb3.envs.universal_observation import (
    K_MAX,
    N_MAX,
    UNIVERSAL_OBSERVATION_SIZE,
    universal_observation_bounds,
)
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope

__all__ = ["WEIGHTS_FORMAT", "WEIGHTS_FORMAT_VERSION", "save_weights", "load_network",
           "read_weights_manifest", "envelope_from_manifest"]

WEIGHTS_FORMAT = "gbwm-sb3-universal-policy"
WEIGHTS_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_ARRAYS = "weights.npz"


def _spaces() -> tuple[spaces.Box, spaces.MultiDiscrete]:
    low, high = universal_observation_bounds()
    return (spaces.Box(low=low, high=high, dtype=np.float32),
            spaces.MultiDiscrete([K_MAX, N_MAX]))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_weights(policy: UniversalGBWMPolicy, directory: str | os.PathLike[str],
                 metadata: dict[str, Any] | None = None, *, overwrite: bool = False,
                 envelope: ProblemEnvelope = DEFAULT_ENVELOPE) -> Path:
    """Write ``policy``'s weights and manifest to ``directory``; returns the directory.

    An existing weights directory is refused unless ``overwrite=True``.
    """
    if not isinstance(policy, UniversalGBWMPolicy):
        raise ValueError(f"policy must be a UniversalGBWMPolicy, got {type(policy).__name__}")
    directory = Path(directory)
    if (directory / _MANIFEST).exists() and not overwrite:
        raise FileExistsError(f"{directory} already holds weights; pass overwrite=True to "
                              "replace them")
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {name: tensor.detach().cpu().numpy().astype(np.float32)
              for name, tensor in policy.state_dict().items()}
    tmp = directory / (_ARRAYS + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, directory / _ARRAYS)
    manifest = {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "network": {"embedding": list(policy.embedding), "head": policy.head,
                    "value": list(policy.value),
                    "activation": policy.activation_fn.__name__},
        "observation_size": UNIVERSAL_OBSERVATION_SIZE,
        "action": [K_MAX, N_MAX],
        "envelope": {k: list(v) if isinstance(v, tuple) else v
                     for k, v in asdict(envelope).items()},
        "tensors": {name: list(array.shape) for name, array in arrays.items()},
        "parameters": int(sum(a.size for a in arrays.values())),
        "sha256": _sha256(directory / _ARRAYS),
        "metadata": metadata or {},
    }
    tmp_manifest = directory / (_MANIFEST + ".tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp_manifest, directory / _MANIFEST)
    return directory


def read_weights_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a weights directory, checked for format and version."""
    path = Path(directory) / _MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no pretrained weights in {directory} (missing {_MANIFEST})")
    manifest = json.loads(path.read_text())
    if not isinstance(manifest, dict) or manifest.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path} is not a {WEIGHTS_FORMAT} manifest")
    if manifest.get("format_version") != WEIGHTS_FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {manifest.get('format_version')!r} is not "
                         f"supported (this version reads {WEIGHTS_FORMAT_VERSION})")
    if manifest.get("observation_size") != UNIVERSAL_OBSERVATION_SIZE \
            or manifest.get("action") != [K_MAX, N_MAX]:
        raise ValueError(f"{path}: the weights are for observations of "
                         f"{manifest.get('observation_size')} entries and actions "
                         f"{manifest.get('action')}, this version uses "
                         f"{UNIVERSAL_OBSERVATION_SIZE} and {[K_MAX, N_MAX]}")
    return manifest


def envelope_from_manifest(manifest: dict[str, Any]) -> ProblemEnvelope:
    """The problem envelope the weights were trained for."""
    data = {k: tuple(v) if isinstance(v, list) else v
            for k, v in manifest.get("envelope", {}).items()}
    return ProblemEnvelope(**data)


def load_network(directory: str | os.PathLike[str], device: str = "cpu"
                 ) -> UniversalGBWMPolicy:
    """Rebuild the network from a weights directory (no pickle; hashes checked)."""
    directory = Path(directory)
    manifest = read_weights_manifest(directory)
    arrays_path = directory / _ARRAYS
    if not arrays_path.exists():
        raise FileNotFoundError(f"{arrays_path} is missing")
    if _sha256(arrays_path) != manifest.get("sha256"):
        raise ValueError(f"{arrays_path} does not match the sha256 in its manifest "
                         "(modified or truncated)")
    network = manifest["network"]
    activation = getattr(th.nn, str(network.get("activation", "Tanh")), None)
    if activation not in (th.nn.Tanh, th.nn.ReLU, th.nn.SiLU, th.nn.ELU):
        raise ValueError(f"unsupported activation {network.get('activation')!r} in "
                         f"{directory / _MANIFEST}")
    observation_space, action_space = _spaces()
    policy = UniversalGBWMPolicy(observation_space, action_space, lambda _: 0.0,
                                 embedding=network["embedding"], head=network["head"],
                                 value=network["value"], activation_fn=activation)
    expected = policy.state_dict()
    with np.load(arrays_path, allow_pickle=False) as data:
        names = set(data.files)
        if names != set(expected):
            missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
            raise ValueError(f"{arrays_path}: tensors do not match the network "
                             f"(missing {missing}, unexpected {extra})")
        state = {}
        for name, tensor in expected.items():
            array = data[name]
            if tuple(array.shape) != tuple(tensor.shape):
                raise ValueError(f"{arrays_path}: tensor {name} has shape {array.shape}, "
                                 f"expected {tuple(tensor.shape)}")
            state[name] = th.from_numpy(np.array(array, dtype=np.float32))
    policy.load_state_dict(state)
    policy.set_training_mode(False)
    policy = policy.to(device)
    with th.no_grad():  # the first forward pass pays PyTorch's one-off start-up costs
        policy.action_probabilities(th.as_tensor(
            (observation_space.low + np.minimum(observation_space.high, 1.0))[None] / 2,
            device=policy.device))
    return policy
