"""Replacing one file whole: a temporary file in the same folder, then a rename, so that a
reader sees the old content or the new one and never half of either; and keeping a cache
folder small."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["replace_file", "trim_folder"]


def replace_file(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None,
                 durable: bool = False) -> None:
    """Put ``data`` at ``path`` atomically. ``mode``: the new file's permissions (default:
    the old file's, else what the umask allows); ``durable``: flush it to disk before the
    rename. On failure the temporary file is removed and the old file is untouched."""
    path = Path(path)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def trim_folder(folder: str, prefix: str, suffix: str, most: int) -> None:
    """When ``folder`` holds more than ``most`` files named ``prefix*suffix``, remove the
    older half of them (by modification time). Files that cannot be removed stay."""
    try:
        with os.scandir(folder) as entries:
            found = [(e.stat().st_mtime_ns, e.path) for e in entries
                     if e.name.startswith(prefix) and e.name.endswith(suffix)]
    except OSError:
        return
    if len(found) <= most:
        return
    found.sort()
    for _mtime, old in found[:len(found) // 2]:
        try:
            os.unlink(old)
        except OSError:
            pass
