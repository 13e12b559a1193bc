"""Crash-safe file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once at import, before any thread starts
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write via `write(file)` to a temp file beside `path`, fsync it, rename it over `path`.

    The rename is atomic on POSIX; fsyncing the directory afterwards makes it survive a
    power cut. On any failure (disk full, read-only directory) the temp file is removed,
    `path` is untouched and the OSError propagates.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes it private; give it a normal file's mode
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
