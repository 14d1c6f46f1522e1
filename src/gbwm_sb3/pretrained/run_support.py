"""Small helpers shared by the pretraining loops (PPO and DP teacher): run files written
whole, linear schedules, and the weights a run starts from."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gbwm_sb3.pretrained.loading import DEFAULT_WEIGHTS, PPO_WEIGHTS
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.pretrained.weights import copy_weights_widened, load_network

__all__ = ["NAMED_STARTS", "atomic_write_json", "check_start", "linear_fraction",
           "load_start", "start_directory"]

#: The starts a run names (a fresh network, the shipped weights, the pure-RL PPO weights);
#: any other start is a weights directory.
NAMED_STARTS = ("scratch", "shipped", "ppo")
_NAMED_DIRECTORIES = {"shipped": DEFAULT_WEIGHTS, "ppo": PPO_WEIGHTS}


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file (never half-written)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def linear_fraction(start: float, end: float, fraction: float) -> float:
    """``start`` moved linearly to ``end`` by ``fraction`` (clipped to [0, 1])."""
    return start + (end - start) * min(max(fraction, 0.0), 1.0)


def check_start(start: object) -> None:
    """ValueError unless ``start`` is one of :data:`NAMED_STARTS` or a weights directory."""
    if not isinstance(start, str) or (start not in NAMED_STARTS
                                      and not (Path(start) / "manifest.json").is_file()):
        raise ValueError(f"start must be one of {', '.join(NAMED_STARTS)} or a weights "
                         f"directory (holding manifest.json), got {start!r}")


def start_directory(start: str) -> Path | None:
    """The weights directory a run starts from (None: a fresh network)."""
    if start == "scratch":
        return None
    return _NAMED_DIRECTORIES.get(start, Path(start))


def load_start(network: UniversalGBWMPolicy, start: str) -> None:
    """Copy the weights ``start`` names into ``network`` (same layer sizes required).
    Inputs those weights do not read start with zero weights, so the network
    acts exactly as they do until training moves them."""
    directory = start_directory(start)
    if directory is None:
        raise ValueError("start 'scratch' names no weights to load")
    try:
        copy_weights_widened(load_network(directory), network)
    except ValueError as exc:
        raise ValueError(f"start {start!r}: {exc}") from None
