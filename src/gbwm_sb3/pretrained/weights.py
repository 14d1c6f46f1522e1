"""The universal policy's weights in a safe format: a JSON manifest and plain arrays.

A weights directory holds::

    manifest.json   format, version, network shape, observation and action sizes,
                    the envelope it was trained for (``envelope``), optionally the wider
                    or narrower envelope measurements showed it can be used in
                    (``accepted_envelope``; without it, the training envelope), training
                    metadata, sha256 of weights.npz
    weights.npz     one float32 array per tensor of the network's state_dict

``weights.npz`` is read without pickle (numpy's ``.npy`` header reader, then the raw
numbers; the same guarantee as ``numpy.load(allow_pickle=False)``): floating-point
arrays only, nothing in the directory can make Python import a module or call a
function. The network is rebuilt from the manifest's JSON shape and the arrays are
copied into it, each one checked against the expected name, shape and type, and
refused when it holds NaN or infinite values.

The directory may come from anyone, so every size is bounded before anything is
built: the files (:data:`MAX_MANIFEST_BYTES`, :data:`MAX_ARRAYS_BYTES`), the network
(:data:`MAX_NETWORK_LAYERS` layers of at most :data:`MAX_NETWORK_WIDTH` units and
:data:`MAX_NETWORK_WEIGHTS` weights between hidden layers), and each array (the size
its expected shape needs, checked before it is read). Every refusal is a
:class:`WeightsFileError` (a ``ValueError``) naming the file and the field; a
directory without a manifest raises ``FileNotFoundError``.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
import zlib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.common.untrusted import (
    MAX_JSON_DEPTH,
    check_zip_directory,
    load_json,
    read_capped,
    sha256_file,
    shown,
)
from gbwm_sb3.envs.universal_observation import (
    K_MAX,
    N_MAX,
    UNIVERSAL_OBSERVATION_SIZE,
    universal_observation_bounds,
)
from gbwm_sb3.pretrained.policy import INPUT_FLAGS, UniversalGBWMPolicy
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope

__all__ = ["WEIGHTS_FORMAT", "WEIGHTS_FORMAT_VERSION", "WeightsFileError", "save_weights",
           "load_network", "read_weights_manifest", "envelope_from_manifest",
           "accepted_envelope_from_manifest", "lookahead_from_manifest", "DEFAULT_LOOKAHEAD",
           "network_spaces", "copy_weights_widened",
           "MAX_MANIFEST_BYTES", "MAX_ARRAYS_BYTES", "MAX_NETWORK_LAYERS", "MAX_NETWORK_WIDTH",
           "MAX_NETWORK_WEIGHTS"]

WEIGHTS_FORMAT = "gbwm-sb3-universal-policy"
WEIGHTS_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_ARRAYS = "weights.npz"

#: Largest ``manifest.json`` read, in bytes (1 MiB; the shipped one is about 6 KB).
MAX_MANIFEST_BYTES = 1 << 20
#: Largest ``weights.npz`` read, in bytes (the largest network allowed below takes about
#: 70 MB as float32; the shipped weights are under 2 MB).
MAX_ARRAYS_BYTES = 256 << 20
#: Most hidden layers of ``network.embedding`` and of ``network.value``.
MAX_NETWORK_LAYERS = 8
#: Widest hidden layer (``embedding``, ``head``, ``value``): the policy's own limit.
MAX_NETWORK_WIDTH = 4_096
#: Most weights between the network's hidden layers (consecutive ``embedding`` and
#: ``value`` layers, and ``head`` x the last ``embedding`` layer for each of the two
#: scorers): 2**24, 64 MiB as float32.
MAX_NETWORK_WEIGHTS = 1 << 24
#: Most tensors a manifest may list.
_MAX_TENSORS = 1_000
#: Activations a manifest may name (``torch.nn`` class names).
_ACTIVATIONS = {cls.__name__: cls for cls in (th.nn.Tanh, th.nn.ReLU, th.nn.SiLU, th.nn.ELU)}
_NETWORK_KEYS = ("embedding", "head", "value", "activation", *INPUT_FLAGS)
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: What reading a damaged (or encrypted, or oddly compressed) archive may raise.
_DAMAGED_ARCHIVE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
                    RuntimeError, NotImplementedError)


#: The lookahead of weights whose manifest records none (chosen for the PPO-pretrained
#: weights on their validation problems).
DEFAULT_LOOKAHEAD = 8

class WeightsFileError(ValueError):
    """A pretrained weights directory that cannot be loaded: names the file and the field."""


def network_spaces() -> tuple[spaces.Box, spaces.MultiDiscrete]:
    """The observation and action spaces of every universal policy network."""
    low, high = universal_observation_bounds()
    return (spaces.Box(low=low, high=high, dtype=np.float32),
            spaces.MultiDiscrete([K_MAX, N_MAX]))


def save_weights(policy: UniversalGBWMPolicy, directory: str | os.PathLike[str],
                 metadata: dict[str, Any] | None = None, *, overwrite: bool = False,
                 envelope: ProblemEnvelope = DEFAULT_ENVELOPE,
                 accepted_envelope: ProblemEnvelope | None = None,
                 lookahead: int | None = None) -> Path:
    """Write ``policy``'s weights and manifest to ``directory``; returns the directory.

    ``envelope``: the problems the weights were trained on; ``accepted_envelope``: the
    problems ``pretrained_policy`` accepts for them, once measured (None: the training
    envelope); ``lookahead``: the lookahead ``pretrained_policy`` uses by default with
    them, once chosen (None: :data:`DEFAULT_LOOKAHEAD`). An existing weights directory is
    refused unless ``overwrite=True``.
    """
    if lookahead is not None:
        check_int(lookahead, "lookahead", 1, 64, style="dots")
    for name, value in (("envelope", envelope), ("accepted_envelope", accepted_envelope)):
        if not isinstance(value, ProblemEnvelope) and (name == "envelope" or value is not None):
            raise ValueError(f"{name} must be a ProblemEnvelope, got {type(value).__name__}")
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
                    "activation": policy.activation_fn.__name__,
                    **{flag: True for flag in INPUT_FLAGS if getattr(policy, flag)}},
        "observation_size": UNIVERSAL_OBSERVATION_SIZE,
        "action": [K_MAX, N_MAX],
        "envelope": _envelope_json(envelope),
        **({"accepted_envelope": _envelope_json(accepted_envelope)}
           if accepted_envelope is not None else {}),
        **({"lookahead": int(lookahead)} if lookahead is not None else {}),
        "tensors": {name: list(array.shape) for name, array in arrays.items()},
        "parameters": int(sum(a.size for a in arrays.values())),
        "sha256": sha256_file(directory / _ARRAYS),
        "metadata": metadata or {},
    }
    tmp_manifest = directory / (_MANIFEST + ".tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp_manifest, directory / _MANIFEST)
    return directory


def _int_in(path: Path, field: str, value: Any, low: int, high: int) -> int:
    return check_int(value, f"{path}: {field}", low, high, style="dots", exact=True,
                     error=WeightsFileError, show=shown)


def _layers(path: Path, field: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_NETWORK_LAYERS:
        raise WeightsFileError(f"{path}: {field} must be a list of 1..{MAX_NETWORK_LAYERS} "
                               f"layer sizes, got {shown(value)}")
    return [_int_in(path, f"{field}[{i}]", v, 1, MAX_NETWORK_WIDTH) for i, v in enumerate(value)]


def _check_network(path: Path, network: Any) -> None:
    """``network``: the hidden layer sizes and activation, within the documented bounds."""
    if not isinstance(network, dict):
        raise WeightsFileError(f"{path}: network must be a mapping with the keys "
                               f"{', '.join(_NETWORK_KEYS)}, got {shown(network)}")
    unknown = [key for key in network if key not in _NETWORK_KEYS]
    if unknown:
        raise WeightsFileError(f"{path}: network.{shown(unknown[0])} is not a known key; "
                               f"the keys are {', '.join(_NETWORK_KEYS)}")
    for key in ("embedding", "head", "value"):
        if key not in network:
            raise WeightsFileError(f"{path}: network.{key} is missing")
    embedding = _layers(path, "network.embedding", network["embedding"])
    value = _layers(path, "network.value", network["value"])
    head = _int_in(path, "network.head", network["head"], 1, MAX_NETWORK_WIDTH)
    weights = sum(a * b for layers in (embedding, value)
                  for a, b in zip(layers, layers[1:], strict=False))
    weights += 2 * head * embedding[-1]
    if weights > MAX_NETWORK_WEIGHTS:
        raise WeightsFileError(f"{path}: network describes {weights:,} weights between hidden "
                               f"layers, more than the {MAX_NETWORK_WEIGHTS:,} allowed")
    activation = network.get("activation", "Tanh")
    if not isinstance(activation, str) or activation not in _ACTIVATIONS:
        raise WeightsFileError(f"{path}: network.activation must be one of "
                               f"{', '.join(_ACTIVATIONS)}, got {shown(activation)}")
    for flag in INPUT_FLAGS:
        if not isinstance(network.get(flag, False), bool):
            raise WeightsFileError(f"{path}: network.{flag} must be true or false, got "
                                   f"{shown(network[flag])}")


def _envelope_json(envelope: ProblemEnvelope) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(envelope).items()}


def _envelope(data: Any, where: str, key: str = "envelope") -> ProblemEnvelope:
    """The :class:`ProblemEnvelope` of a manifest's ``key`` (errors name ``where``)."""
    if not isinstance(data, dict):
        raise WeightsFileError(f"{where}{key} must be a mapping, got {shown(data)}")
    known = [f.name for f in fields(ProblemEnvelope)]
    for name in data:
        if name not in known:
            raise WeightsFileError(f"{where}{key}.{shown(name)} is not a known key; the "
                                   f"keys are {', '.join(known)}")
    try:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        return ProblemEnvelope(**values)
    except (ValueError, TypeError) as exc:
        raise WeightsFileError(f"{where}{key}: {str(exc)[:300]}") from None


def _check_tensors(path: Path, manifest: dict[str, Any]) -> None:
    """The informational ``tensors`` (name -> shape) and ``parameters`` fields, bounded."""
    tensors = manifest.get("tensors", {})
    if not isinstance(tensors, dict) or len(tensors) > _MAX_TENSORS:
        raise WeightsFileError(f"{path}: tensors must be a mapping of at most {_MAX_TENSORS} "
                               f"names to shapes, got {shown(tensors)}")
    for name, shape in tensors.items():
        if not isinstance(shape, list) or len(shape) > 4:
            raise WeightsFileError(f"{path}: tensors.{shown(name)} must be a shape (a list of "
                                   f"at most 4 sizes), got {shown(shape)}")
        for i, size in enumerate(shape):
            _int_in(path, f"tensors.{shown(name)}[{i}]", size, 0, MAX_NETWORK_WIDTH)
    if "parameters" in manifest:
        _int_in(path, "parameters", manifest["parameters"], 0, MAX_ARRAYS_BYTES // 4)


def read_weights_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a weights directory, checked for format, version and bounds.

    Raises ``FileNotFoundError`` when the directory has no manifest and
    :class:`WeightsFileError` (a ``ValueError``) naming the file and the field for
    anything else it will not read.
    """
    if Path(directory).exists() and not Path(directory).is_dir():
        raise WeightsFileError(f"{directory} is not a directory: pretrained weights are a "
                               f"directory with {_MANIFEST} and weights.npz")
    path = Path(directory) / _MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no pretrained weights in {directory} (missing {_MANIFEST})")
    raw = read_capped(path, MAX_MANIFEST_BYTES, "a weights manifest", WeightsFileError)
    manifest = load_json(raw, path, WeightsFileError, MAX_JSON_DEPTH)
    if not isinstance(manifest, dict) or manifest.get("format") != WEIGHTS_FORMAT:
        raise WeightsFileError(f"{path} is not a {WEIGHTS_FORMAT} manifest")
    if manifest.get("format_version") != WEIGHTS_FORMAT_VERSION:
        raise WeightsFileError(f"{path}: format_version {shown(manifest.get('format_version'))} "
                               f"is not supported (this version reads {WEIGHTS_FORMAT_VERSION})")
    if manifest.get("observation_size") != UNIVERSAL_OBSERVATION_SIZE \
            or manifest.get("action") != [K_MAX, N_MAX]:
        raise WeightsFileError(f"{path}: the weights are for observations of "
                               f"{shown(manifest.get('observation_size'))} entries and actions "
                               f"{shown(manifest.get('action'))}, this version uses "
                               f"{UNIVERSAL_OBSERVATION_SIZE} and {[K_MAX, N_MAX]}")
    if "network" not in manifest:
        raise WeightsFileError(f"{path}: network is missing (the network's layer sizes)")
    _check_network(path, manifest["network"])
    if "lookahead" in manifest:
        _int_in(path, "lookahead", manifest["lookahead"], 1, 64)
    for key in ("envelope", "accepted_envelope"):
        if key in manifest:
            _envelope(manifest[key], f"{path}: ", key)
    metadata = manifest.get("metadata", {})
    if not isinstance(metadata, dict):
        raise WeightsFileError(f"{path}: metadata must be a mapping, got {shown(metadata)}")
    config = metadata.get("config", {})
    if not isinstance(config, dict):
        raise WeightsFileError(f"{path}: metadata.config must be a mapping, got {shown(config)}")
    if not isinstance(config.get("reward_normalization", ""), str):
        raise WeightsFileError(f"{path}: metadata.config.reward_normalization must be a string, "
                               f"got {shown(config['reward_normalization'])}")
    _check_tensors(path, manifest)
    digest = manifest.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise WeightsFileError(f"{path}: sha256 must be the 64 hexadecimal digits of the "
                               f"SHA-256 of {_ARRAYS}, got {shown(digest)}")
    return manifest


def envelope_from_manifest(manifest: dict[str, Any]) -> ProblemEnvelope:
    """The problem envelope the weights were trained for (the default when not recorded);
    :class:`WeightsFileError` for an envelope that is not one."""
    return _envelope(manifest.get("envelope", {}), "")


def lookahead_from_manifest(manifest: dict[str, Any]) -> int:
    """The lookahead ``pretrained_policy`` uses by default with these weights: the
    manifest's ``lookahead`` where recorded, else :data:`DEFAULT_LOOKAHEAD`."""
    return int(manifest.get("lookahead", DEFAULT_LOOKAHEAD))


def accepted_envelope_from_manifest(manifest: dict[str, Any]) -> ProblemEnvelope:
    """The problems ``pretrained_policy`` accepts for these weights: the manifest's
    ``accepted_envelope`` where recorded, else the training envelope
    (:func:`envelope_from_manifest`; manifests written before it existed keep the
    envelope they were trained for)."""
    if "accepted_envelope" in manifest:
        return _envelope(manifest["accepted_envelope"], "", "accepted_envelope")
    return envelope_from_manifest(manifest)


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple[int, ...],
                where: str) -> np.ndarray:
    """One ``.npy`` member of ``archive`` as float32, read only when its header gives a
    floating-point array of ``shape`` (so memory is bounded by the expected size)."""
    count = int(np.prod(shape, dtype=np.int64))
    if info.file_size > 8 * count + 4096:
        raise WeightsFileError(f"{where}: unpacks to {info.file_size:,} bytes, more than an "
                               f"array of shape {shape} needs")
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(handle)
        else:
            raise WeightsFileError(f"{where}: .npy format version {version} is not read")
        found, fortran, dtype = header
        if dtype.kind != "f" or dtype.itemsize > 8:
            raise WeightsFileError(f"{where}: holds {dtype} values; only floating-point "
                                   "numbers are read")
        if tuple(found) != shape:
            raise WeightsFileError(f"{where}: has shape {tuple(found)}, expected {shape}")
        data = handle.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise WeightsFileError(f"{where}: truncated ({len(data):,} of "
                               f"{count * dtype.itemsize:,} bytes)")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if not np.isfinite(array).all():
        raise WeightsFileError(f"{where}: holds NaN or infinite values")
    return np.array(array, dtype=np.float32)


def load_network(directory: str | os.PathLike[str], device: str = "cpu"
                 ) -> UniversalGBWMPolicy:
    """Rebuild the network from a weights directory (no pickle; sizes bounded, hashes and
    values checked). Raises :class:`WeightsFileError` (a ``ValueError``) naming the file
    and the field or tensor, or ``FileNotFoundError`` for a missing file."""
    directory = Path(directory)
    manifest = read_weights_manifest(directory)
    arrays_path = directory / _ARRAYS
    if not arrays_path.exists():
        raise FileNotFoundError(f"{arrays_path} is missing")
    try:
        size = arrays_path.stat().st_size
        if size > MAX_ARRAYS_BYTES:
            raise WeightsFileError(f"{arrays_path}: {size:,} bytes, more than the "
                                   f"{MAX_ARRAYS_BYTES:,} bytes allowed for weights")
        digest = sha256_file(arrays_path)
    except OSError as exc:
        raise WeightsFileError(f"{arrays_path}: cannot be read ({exc.strerror})") from None
    if digest != manifest["sha256"]:
        raise WeightsFileError(f"{arrays_path} does not match the sha256 in its manifest "
                               "(modified or truncated)")
    network = manifest["network"]
    activation = _ACTIVATIONS[network.get("activation", "Tanh")]
    observation_space, action_space = network_spaces()
    policy = UniversalGBWMPolicy(observation_space, action_space, lambda _: 0.0,
                                 embedding=network["embedding"], head=network["head"],
                                 value=network["value"], activation_fn=activation,
                                 **{flag: network.get(flag, False) for flag in INPUT_FLAGS})
    expected = policy.state_dict()
    listed = manifest.get("tensors")
    if listed is not None:
        for name in listed:
            if name not in expected:
                raise WeightsFileError(f"{directory / _MANIFEST}: tensors.{shown(name)} is not "
                                       "a tensor of the network described by network")
        for name, tensor in expected.items():
            if listed.get(name) != list(tensor.shape):
                raise WeightsFileError(
                    f"{directory / _MANIFEST}: tensors.{name} is {shown(listed.get(name))}, "
                    f"the network described by network has shape {list(tensor.shape)}")
    parameters = sum(tensor.numel() for tensor in expected.values())
    if manifest.get("parameters", parameters) != parameters:
        raise WeightsFileError(f"{directory / _MANIFEST}: parameters is "
                               f"{manifest['parameters']:,}, the network described by network "
                               f"has {parameters:,}")
    check_zip_directory(arrays_path, WeightsFileError)
    try:
        archive = zipfile.ZipFile(arrays_path)
    except _DAMAGED_ARCHIVE as exc:
        raise WeightsFileError(f"{arrays_path}: not an .npz archive of arrays "
                               f"({str(exc)[:200]})") from None
    with archive:
        members = {}
        for info in archive.infolist()[:len(expected) + 1]:
            if not info.filename.endswith(".npy"):
                raise WeightsFileError(f"{arrays_path}: holds {shown(info.filename)}, which is "
                                       "not an array (.npy)")
            members[info.filename[:-4]] = info
        if set(members) != set(expected) or len(archive.infolist()) != len(expected):
            missing = sorted(set(expected) - set(members))
            extra = sorted(set(members) - set(expected))
            raise WeightsFileError(f"{arrays_path}: tensors do not match the network "
                                   f"(missing {missing}, unexpected "
                                   f"[{', '.join(shown(name) for name in extra[:5])}])")
        state = {}
        for name, tensor in expected.items():
            where = f"{arrays_path}: tensor {name}"
            try:
                array = _read_array(archive, members[name], tuple(tensor.shape), where)
            except WeightsFileError:
                raise
            except _DAMAGED_ARCHIVE as exc:  # a damaged member or header
                raise WeightsFileError(f"{where}: cannot be read ({str(exc)[:200]})") from None
            state[name] = th.from_numpy(array)
    policy.load_state_dict(state)
    policy.set_training_mode(False)
    policy = policy.to(device)
    with th.no_grad():  # the first forward pass pays PyTorch's one-off start-up costs
        policy.action_probabilities(th.as_tensor(
            (observation_space.low + np.minimum(observation_space.high, 1.0))[None] / 2,
            device=policy.device))
    return policy


def copy_weights_widened(source: UniversalGBWMPolicy, target: UniversalGBWMPolicy) -> None:
    """Copy ``source``'s weights into ``target``, a network of the same layer sizes whose
    heads may read more inputs (``weighted_reach``, ``entry_reach``, ``decision_margins``,
    ``decision_reach``).

    Each of ``source``'s inputs keeps its weights; ``target``'s extra inputs get zero
    weights, so ``target`` acts exactly as ``source`` until training moves them.
    """
    shape = {"embedding": list(source.embedding), "head": source.head,
             "value": list(source.value), "activation": source.activation_fn.__name__}
    wanted = {"embedding": list(target.embedding), "head": target.head,
              "value": list(target.value), "activation": target.activation_fn.__name__}
    if shape != wanted:
        raise ValueError(f"the network must have the source network's shape {shape}, got "
                         f"{wanted}")
    state = source.state_dict()
    for head, key, had, names in (
            ("portfolio", "portfolio_scorer.0.weight", source.portfolio_input_names,
             target.portfolio_input_names),
            ("goal", "decision_scorer.0.weight", source.decision_input_names,
             target.decision_input_names)):
        missing = [name for name in had if name not in names]
        if missing:
            raise ValueError(f"the network must read every {head} input of the source "
                             f"network; it lacks {', '.join(missing)}")
        widened = th.zeros_like(target.state_dict()[key])
        for i, name in enumerate(had):
            widened[:, names.index(name)] = state[key][:, i]
        state[key] = widened
    target.load_state_dict(state)

