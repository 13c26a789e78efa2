"""Replacing one file whole: a temporary file in the same folder, then a rename, so that a
reader sees the old content or the new one and never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["replace_file"]


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
