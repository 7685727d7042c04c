"""Replacing a file so that a crash at any instant leaves the old content or the new one, never a mix.

The new content goes to ``<file>.tmp``, is flushed and fsynced, then renamed onto ``<file>`` (``os.replace`` is
atomic on POSIX and Windows) and the directory is fsynced so the rename itself survives a power cut. Every file
ml314 rewrites (state, identity, parameters, settings) goes through :func:`write_atomically`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ml314.errors import InputError

__all__ = ["fsync_dir", "temp_path", "write_atomically", "write_durably"]


def temp_path(path: Path) -> Path:
    """Where the next content is written before it replaces ``path``: ``<file>.tmp``."""
    return path.with_name(path.name + ".tmp")


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` (created with ``mode``, truncated) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, mode)  # an existing file keeps its old mode through O_CREAT


def write_atomically(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (text is UTF-8) through ``<file>.tmp``; an OS error (full disk, no
    permission) becomes one :class:`InputError` naming the file, and the old content stays."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(tmp, raw, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    fsync_dir(path.parent)
