"""Checks of the ``gbwm`` inputs that argparse types cannot make alone.

Output locations (a folder or a file that can be created and written, checked before any
work starts), the PROBLEM argument (a problem file or ``paper:NG``, read and checked
before any work starts) and the formatting of money amounts in the output. Every error
is a :class:`~gbwm_sb3.cli.arguments.CLIError` naming the option or the problem.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from gbwm_sb3.cli.arguments import CLIError, shown

__all__ = [
    "check_output_dir",
    "check_output_file",
    "check_path_text",
    "check_problem",
    "format_money",
]

#: Amounts this large or larger (or below 0.01) are printed in ``g`` notation.
MONEY_SCIENTIFIC_FROM = 1e7


def format_money(value: float) -> str:
    """An amount for people: ``1,234.57``; ``g`` notation from 1e7 and below 0.01."""
    if value == 0.0 or (math.isfinite(value) and 0.01 <= abs(value) < MONEY_SCIENTIFIC_FROM):
        return f"{value:,.2f}"
    return f"{value:.4g}"


# ----------------------------------------------------------------------------- paths
def check_path_text(text: str, option: str, what: str = "path") -> Path:
    """``text`` as a path: not empty, no NUL character."""
    if not text or not text.strip():
        raise CLIError(f"{option} must be a non-empty {what}, got {text!r}")
    if "\x00" in text:
        raise CLIError(f"{option} must be a {what} without NUL characters, got {shown(text)}")
    return Path(text)


def check_problem(spec: str) -> Any:
    """The problem of PROBLEM ``spec`` (its model checks every field and size)."""
    from gbwm_sb3.problem.files import resolve_problem

    check_path_text(spec, "PROBLEM", "problem file or paper:NG")
    try:
        problem = resolve_problem(spec)
    except ValueError as exc:
        message = str(exc)
        raise CLIError(message if spec in message else f"PROBLEM {spec}: {message}") from None
    except OSError as exc:  # a folder, a device, a file that cannot be read
        raise CLIError(f"PROBLEM {spec}: cannot read it ({exc.strerror or exc})") from None
    return problem


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    current = path.absolute()
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def _check_writable_dir(folder: Path, path: Path, option: str) -> None:
    """Something can be created in the existing ``folder`` (probed with a temporary
    folder, removed at once): permissions, read-only file systems, /proc..."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".gbwm-write-check-", dir=folder))
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot write in {folder} "
                       f"({exc.strerror or exc})") from None


def _check_can_create(path: Path, option: str) -> None:
    """``path`` (not yet existing) can be created: its nearest existing ancestor is a
    writable folder."""
    ancestor = _nearest_existing(path)
    if not ancestor.is_dir():
        raise CLIError(f"{option} {path}: cannot be created, {ancestor} is not a directory")
    _check_writable_dir(ancestor, path, option)


def check_output_dir(path: str | os.PathLike[str], force: bool, option: str) -> Path:
    """An output folder: a writable folder, or one that can be created; one that is not
    empty only with ``force``. Returns it as a Path."""
    path = check_path_text(os.fspath(path), option, "folder path")
    try:
        return _check_output_dir(path, force, option)
    except OSError as exc:  # a name too long, a loop of links...
        raise CLIError(f"{option} {path}: {exc.strerror or exc}") from None


def _check_output_dir(path: Path, force: bool, option: str) -> Path:
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {path} exists and is not a directory")
    if not path.exists():
        _check_can_create(path, option)
        return path
    if any(path.iterdir()) and not force:
        raise CLIError(f"{option} {path} already exists and is not empty; pass --force to "
                       "write into it anyway (files of the same name are replaced)")
    _check_writable_dir(path, path, option)
    return path


def check_output_file(path: str | os.PathLike[str], option: str) -> Path:
    """An output file: not a folder; its folder is writable or can be created. Returns
    it as a Path."""
    path = check_path_text(os.fspath(path), option, "file path")
    try:
        return _check_output_file(path, option)
    except OSError as exc:  # a name too long, a loop of links...
        raise CLIError(f"{option} {path}: {exc.strerror or exc}") from None


def _check_output_file(path: Path, option: str) -> Path:
    if path.is_dir():
        raise CLIError(f"{option} {path} is a directory; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"{option} {path}: the file is not writable")
    parent = path.absolute().parent
    if parent.exists() and not parent.is_dir():
        raise CLIError(f"{option} {path}: cannot be created, {parent} is not a directory")
    if parent.exists():
        _check_writable_dir(parent, path, option)
    else:
        _check_can_create(parent, option)
    return path
