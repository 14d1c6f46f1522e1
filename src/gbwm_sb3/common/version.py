"""The installed version of gbwm-sb3, read from the package metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["DISTRIBUTION", "UNKNOWN_VERSION", "__version__"]

#: The distribution name on PyPI and in ``pip list``.
DISTRIBUTION = "gbwm-sb3"
#: The version reported when the sources run without being installed (no metadata).
UNKNOWN_VERSION = "0+unknown"

try:
    __version__: str = version(DISTRIBUTION)
except PackageNotFoundError:  # pragma: no cover - a source tree on sys.path, not installed
    __version__ = UNKNOWN_VERSION
