"""Command-line plumbing: argparse types that name the allowed range, and the usage error."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["CLIError", "int_in", "float_in", "lookahead_option", "shown"]

#: Characters of a refused argument repeated in its error message.
_SHOWN_CHARS = 40


class CLIError(Exception):
    """A user error: printed as ``gbwm <command>: error: <message>``, exit status 2."""


def shown(text: str) -> str:
    """``text`` quoted for an error message, cut to a readable length."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return repr(text[:_SHOWN_CHARS]) + f"... ({len(text):,} characters)"


def _shown_int(value: int) -> str:
    digits = str(value)
    if len(digits) <= _SHOWN_CHARS:
        return digits
    return f"{digits[:_SHOWN_CHARS]}... ({len(digits):,} digits)"


def int_in(low: int, high: int | None = None, *,
           at_most: int | None = None) -> Callable[[str], int]:
    """An integer >= ``low`` (and <= ``high``); ``1_000`` is accepted.

    ``at_most`` is an upper bound stated apart from the lower one ("must be an integer
    >= 1, got 0 (allowed range [1, 1000])"), for options whose message names the lower
    bound first; ``high`` states the range as "an integer in [low, high]".
    """
    if high is not None and at_most is not None:
        raise ValueError("give high or at_most, not both")
    if at_most is not None:
        allowed = f"an integer >= {low}"
        suffix = f" (allowed range [{low}, {at_most}])"
    else:
        allowed = (f"an integer >= {low}" if high is None
                   else f"an integer in [{low}, {high}]")
        suffix = ""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {allowed}, got {shown(text)}{suffix}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be {allowed}, got {_shown_int(value)}{suffix}")
        if at_most is not None and value > at_most:
            raise argparse.ArgumentTypeError(
                f"must be an integer <= {at_most}, got {_shown_int(value)}{suffix}")
        return value

    return parse


def lookahead_option(text: str) -> int | str:
    """A ``--lookahead`` value: decisions the critic compares a year (1-64) or ``auto``
    (the better of the network's own decisions and the lookahead, per client)."""
    if text == "auto":
        return text
    try:
        return int_in(1, 64)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be an integer in [1, 64] or 'auto', got {shown(text)}") from None


def float_in(low: float, high: float) -> Callable[[str], float]:
    """A finite number in [``low``, ``high``]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be a number in [{low:g}, {high:g}], "
                                             f"got {shown(text)}")
        return value

    return parse
