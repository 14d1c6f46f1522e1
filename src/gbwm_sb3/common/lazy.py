"""Lazy attribute exports for package ``__init__`` modules: the package's one mechanism.

The problem definitions and the CLI must start without importing PyTorch; packages
that re-export torch-dependent names import them on first attribute access instead.
Names that moved elsewhere stay reachable with a ``DeprecationWarning`` that names the
new import path.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict[str, Any],
                 deprecated: Mapping[str, str] | None = None,
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: name -> absolute module that defines it.

    An exported name is imported once, then cached in the package's ``namespace``.
    A ``deprecated`` name (name -> module to import it from now) resolves on every
    access with a ``DeprecationWarning`` and is neither cached nor listed by ``dir()``.
    """
    moved = dict(deprecated or {})

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is not None:
            value = getattr(importlib.import_module(module_name), name)
            namespace[name] = value
            return value
        new_home = moved.get(name)
        if new_home is not None:
            # ``from package import name`` looks the name up twice, first in importlib's
            # _handle_fromlist: warn once, on the second look-up.
            if sys._getframe(1).f_code.co_name != "_handle_fromlist":
                warnings.warn(f"{package}.{name} is deprecated; import it from {new_home} "
                              f"(from {new_home} import {name})", DeprecationWarning,
                              stacklevel=2)
            return getattr(importlib.import_module(new_home), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
