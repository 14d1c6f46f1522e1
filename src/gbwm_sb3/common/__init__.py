"""Parts shared by every layer: PyTorch thread control and input validation helpers."""

from __future__ import annotations

from gbwm_sb3.common.threads import configure_torch_threads

__all__ = ["configure_torch_threads"]
