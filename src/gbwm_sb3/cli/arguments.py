"""Command-line plumbing: argparse types that name the allowed range, and the usage error."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["CLIError", "int_in", "float_in"]


class CLIError(Exception):
    """A user error: printed as ``gbwm <command>: error: <message>``, exit status 2."""


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer >= ``low`` (and <= ``high``); ``1_000`` is accepted."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    return parse


def float_in(low: float, high: float) -> Callable[[str], float]:
    """A finite number in [``low``, ``high``]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be a number in [{low:g}, {high:g}], "
                                             f"got {text!r}")
        return value

    return parse
