"""PyTorch thread control: small networks run fastest on one intra-op thread."""

from __future__ import annotations

import os

import torch

__all__ = ["configure_torch_threads"]

_USER_THREADS_ENV = "GBWM_TORCH_THREADS"


def configure_torch_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads and return the number set.

    With ``num_threads=None`` the value comes from the ``GBWM_TORCH_THREADS``
    environment variable, else 1: these 64-unit networks are dominated by
    per-op overhead, and extra threads oversubscribe the cores (2-10x slower).
    """
    if num_threads is None:
        raw = os.environ.get(_USER_THREADS_ENV, "1")
        try:
            num_threads = int(raw)
        except ValueError:
            raise ValueError(f"{_USER_THREADS_ENV} must be an integer >= 1, got {raw!r}") from None
    if isinstance(num_threads, bool) or int(num_threads) != num_threads or num_threads < 1:
        raise ValueError(f"num_threads must be an integer >= 1, got {num_threads!r}")
    torch.set_num_threads(int(num_threads))
    return int(num_threads)
