"""The software and CPU a computation ran on, recorded beside results that depend on them.

Floating-point sums in PyTorch and NumPy may take other paths on another instruction set
(AVX2 against AVX-512) or library build, so a long training run reproduces bit for bit
only where these match; pretraining manifests record them to make that checkable.
"""

from __future__ import annotations

import platform

import numpy as np
import torch

__all__ = ["software_versions", "run_environment"]


def software_versions() -> dict[str, str]:
    """Versions of gbwm-sb3 and the libraries its results depend on."""
    import gymnasium
    import sb3_contrib
    import stable_baselines3

    from gbwm_sb3.common.version import __version__

    return {
        "gbwm_sb3": __version__,
        "stable_baselines3": stable_baselines3.__version__,
        "sb3_contrib": sb3_contrib.__version__,
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def run_environment() -> dict[str, str]:
    """:func:`software_versions` plus the machine and the CPU capability PyTorch uses
    (``ATEN_CPU_CAPABILITY`` overrides it)."""
    return {**software_versions(), "machine": platform.machine(),
            "cpu_capability": str(torch.backends.cpu.get_cpu_capability())}
