"""Parts shared by every layer: PyTorch thread control and lazy package exports.

``configure_torch_threads`` is imported on first use, so that importing this package
(and the problem definitions above it) does not load PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gbwm_sb3.common.lazy import lazy_exports

__all__ = ["configure_torch_threads", "lazy_exports"]
__getattr__, __dir__ = lazy_exports(
    __name__, {"configure_torch_threads": "gbwm_sb3.common.threads"}, globals())

if TYPE_CHECKING:  # pragma: no cover
    from gbwm_sb3.common.threads import configure_torch_threads  # noqa: F401
