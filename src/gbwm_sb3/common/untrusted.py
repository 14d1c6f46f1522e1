"""Reading files that may come from anyone, in bounded time and memory.

The loaders of model directories (:mod:`gbwm_sb3.model_io`) and pretrained weights
(:mod:`gbwm_sb3.pretrained.weights`) share these helpers: a read that refuses a file
over a size cap before reading it, JSON whose nesting is bounded, a streamed SHA-256,
the size of a zip archive's central directory read from its end record (so that an
archive of millions of tiny entries is refused before ``zipfile`` or ``torch.load``
parses it), and a short rendering of a value for an error message. Each helper raises
the caller's own error class (a ``ValueError`` subclass) with the file's path.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "MAX_ZIP_DIRECTORY_BYTES", "read_capped", "load_json",
           "sha256_file", "zip_directory_bytes", "check_zip_directory", "shown"]

#: Deepest nesting of lists and mappings accepted in a JSON file (manifests need 4).
MAX_JSON_DEPTH = 32
#: Largest central directory (the list of entries) of a zip archive opened: 1 MiB, about
#: 10,000 entries; a model's ``policy.pt`` or a ``weights.npz`` has a few dozen.
MAX_ZIP_DIRECTORY_BYTES = 1 << 20

_EOCD = b"PK\x05\x06"  # end of central directory record, 22 bytes + comment
_EOCD64_LOCATOR = b"PK\x06\x07"  # 20 bytes, just before the end record
_EOCD64 = b"PK\x06\x06"  # zip64 end record, 56 bytes, just before the locator


def shown(value: Any, limit: int = 60) -> str:
    """``value`` for an error message: its repr cut to ``limit`` characters (a list or
    mapping by its length only, unless a short list of scalars), in bounded time."""
    if isinstance(value, list) and len(value) <= 8 \
            and not any(isinstance(item, (dict, list)) for item in value):
        text = "[" + ", ".join(shown(item, limit) for item in value) + "]"
    elif isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value)} items"
    elif isinstance(value, str):
        text = repr(value[:limit + 1])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        text = f"<an integer of {value.bit_length():,} bits>"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_capped(path: Path, limit: int, what: str, error: type[ValueError]) -> bytes:
    """The bytes of ``path``; ``error`` naming the file when it is over ``limit`` bytes
    (checked before reading) or cannot be read. ``FileNotFoundError`` passes through."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise error(f"{path}: {size:,} bytes, more than the {limit:,} bytes allowed "
                            f"for {what}")
            raw = handle.read(limit + 1)  # a device or pipe may not know its size
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise error(f"{path}: more than the {limit:,} bytes allowed for {what}")
    return raw


def _depth_ok(data: Any, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return True


def load_json(raw: bytes, path: Path, error: type[ValueError],
              depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` (UTF-8, a byte order mark ignored) parsed as JSON; ``error`` naming ``path``
    for text that is not JSON or nests lists and mappings more than ``depth`` deep."""
    try:
        data = json.loads(raw.decode("utf-8").removeprefix("\ufeff"))
    except RecursionError:
        raise error(f"{path}: not valid JSON (lists and mappings nested more than {depth} "
                    "deep)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long
        raise error(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    if not _depth_ok(data, depth):
        raise error(f"{path}: lists and mappings are nested more than {depth} deep")
    return data


def sha256_file(path: Path) -> str:
    """The SHA-256 of ``path``'s bytes, read in blocks (memory does not grow with the file)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def zip_directory_bytes(path: Path) -> int | None:
    """The size of ``path``'s zip central directory as its end records declare it (the
    larger of the plain and the zip64 record), read from the file's tail only; ``None``
    when ``path`` has no zip end record."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        tail_size = min(size, 22 + 0xFFFF + 20 + 56)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
    # as zipfile looks for it: a record without comment at the very end, else the last one
    at = len(tail) - 22 if tail[-22:-18] == _EOCD and tail[-2:] == b"\0\0" else tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    declared = [struct.unpack("<L", tail[at + 12:at + 16])[0]]
    locator = at - 20
    if locator >= 56 and tail[locator:locator + 4] == _EOCD64_LOCATOR:
        record = tail[locator - 56:locator]
        if record[:4] == _EOCD64:
            declared.append(struct.unpack("<Q", record[40:48])[0])
    return max(declared)


def check_zip_directory(path: Path, error: type[ValueError]) -> None:
    """``error`` naming ``path`` when it is a zip archive listing more than
    ``MAX_ZIP_DIRECTORY_BYTES`` of entries (refused before any zip reader parses them)."""
    try:
        directory = zip_directory_bytes(path)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if directory is not None and directory > MAX_ZIP_DIRECTORY_BYTES:
        raise error(f"{path}: the archive's list of entries takes {directory:,} bytes, more "
                    f"than the {MAX_ZIP_DIRECTORY_BYTES:,} allowed")
