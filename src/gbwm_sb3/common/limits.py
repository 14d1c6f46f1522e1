"""The documented bounds on every size a user can ask for, and their checks.

Each bound is checked where the value enters: a ``gbwm`` option (``gbwm_sb3.cli``), an
environment's or the evaluator's argument, a sweep's or a tuning study's settings. A
value outside its bound is refused at once with an error that names the field and the
allowed range, instead of hanging, running out of memory or failing deep inside.

======================  ===========  ======================================================
bound                   value        what it limits
======================  ===========  ======================================================
``MAX_HORIZON``         100          a problem's horizon T in years (the DP solver's limit)
``MAX_N_ENVS``          1,000,000    trajectories stepped together (GBWMVecEnv, a rollout)
``MAX_ROLLOUT_STEPS``   10,000,000   trajectories x horizon of one PPO rollout
``MAX_TRAJECTORIES``    100,000,000  a training budget in trajectories
``MAX_PATHS``           10,000,000   simulated markets of one evaluation
``MAX_WORKERS``         256          worker processes of a sweep or a tuning study
``MAX_SEEDS``           1,000        training seeds per sweep cell or tuning trial
``MAX_SEED``            2**32 - 1    one seed (SB3 seeds NumPy's 32-bit global seeding)
``MAX_TRIALS``          100,000      tuning trials run by one command
``DP_MAX_GRID_POINTS``  200,000      points of the DP solver's log-wealth grid
======================  ===========  ======================================================

Memory: a rollout of ``MAX_ROLLOUT_STEPS`` steps takes 0.64 GB in SB3's rollout buffer
(64 bytes a step with the paper family's 6 observation features); an evaluation of
``MAX_PATHS`` paths about 0.35 GB above the interpreter's own, whatever the number of
policies (see :func:`gbwm_sb3.evaluation.evaluator.evaluate`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, Literal

__all__ = [
    "DP_MAX_GRID_POINTS",
    "MAX_HORIZON",
    "MAX_N_ENVS",
    "MAX_PATHS",
    "MAX_ROLLOUT_STEPS",
    "MAX_SEED",
    "MAX_SEEDS",
    "MAX_TRAJECTORIES",
    "MAX_TRIALS",
    "MAX_WORKERS",
    "check_float",
    "check_horizon",
    "check_int",
    "int_range_text",
]

#: A problem's horizon T in years: the DP solver (``solve_dp``) refuses a longer one, and
#: nothing else can score a policy, so the envs and ``gbwm`` refuse it too.
MAX_HORIZON = 100
#: Trajectories stepped together: ``GBWMVecEnv(num_envs)``, a PPO rollout's trajectories.
MAX_N_ENVS = 1_000_000
#: Trajectories x horizon of one PPO rollout (SB3 allocates its buffer for all of them).
MAX_ROLLOUT_STEPS = 10_000_000
#: A training budget in trajectories.
MAX_TRAJECTORIES = 100_000_000
#: Simulated markets (paths) of one evaluation.
MAX_PATHS = 10_000_000
#: Worker processes of a sweep (``gbwm reproduce``) or a tuning study (``gbwm tune``).
MAX_WORKERS = 256
#: Training seeds per cell of a sweep or per tuning trial.
MAX_SEEDS = 1_000
#: Largest seed: SB3 seeds NumPy's global generator, which takes 32-bit seeds.
MAX_SEED = 2**32 - 1
#: Tuning trials run by one command.
MAX_TRIALS = 100_000
#: Points of the DP solver's log-wealth grid (``solve_dp`` refuses more).
DP_MAX_GRID_POINTS = 200_000


#: How a message states an integer range: ``"interval"`` (in [1, 256]), ``"dots"``
#: (in 1..256) or ``"bounds"`` (>= 1 and <= 256).
RangeStyle = Literal["interval", "dots", "bounds"]


def int_range_text(low: int | None, high: int | None, style: RangeStyle = "interval") -> str:
    """The range ``check_int`` names: "in [1, 256]", "in 1..256", ">= 1 and <= 256", ">= 1"."""
    if low is not None and high is not None:
        if style == "dots":
            return f"in {low:,}..{high:,}"
        if style == "bounds":
            return f">= {low:,} and <= {high:,}"
        return f"in [{low:,}, {high:,}]"
    if low is not None:
        return f">= {low:,}"
    return "" if high is None else f"<= {high:,}"


def check_int(value: Any, name: str, low: int | None = None, high: int | None = None, *,
              style: RangeStyle = "interval", exact: bool = False,
              error: Callable[[str], Exception] = ValueError,
              show: Callable[[Any], str] = repr) -> int:
    """``value`` as an int in ``[low, high]`` (``None``: no bound); else ``error`` naming
    ``name`` and the range (see :func:`int_range_text`), with the value as ``show`` gives it.

    Booleans and non-integral numbers are refused; NumPy integers are accepted unless
    ``exact`` (Python ints only, for values kept as given, e.g. written to JSON).
    """
    kind = int if exact else numbers.Integral
    number = None if isinstance(value, bool) or not isinstance(value, kind) else int(value)
    if number is None or (low is not None and number < low) \
            or (high is not None and number > high):
        allowed = " ".join(filter(None, ("an integer", int_range_text(low, high, style))))
        raise error(f"{name} must be {allowed}, got {show(value)}")
    return number


def check_float(value: Any, name: str, low: float, high: float) -> float:
    """``value`` as a finite float in ``[low, high]``; ValueError naming ``name`` and the range.

    Booleans are refused; anything ``float()`` reads is accepted.
    """
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be a real number in [{low}, {high}], got {value!r}")
    return number


def check_horizon(horizon: int, name: str = "problem.horizon") -> int:
    """A problem's horizon within ``1..MAX_HORIZON`` (ValueError naming ``name``)."""
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"{name} must be in 1..{MAX_HORIZON} years (the DP solver's "
                         f"limit), got {horizon:,}")
    return int(horizon)
