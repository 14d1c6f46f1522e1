"""Small helpers shared by the pretraining loops (PPO and DP teacher): run files written
whole, and linear schedules."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_json", "linear_fraction"]


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file (never half-written)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def linear_fraction(start: float, end: float, fraction: float) -> float:
    """``start`` moved linearly to ``end`` by ``fraction`` (clipped to [0, 1])."""
    return start + (end - start) * min(max(fraction, 0.0), 1.0)
