"""Crash-safe file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once at import, before any thread starts
    os.umask(mask)
    return mask


_UMASK = _read_umask()
# The temp names atomic_write makes: "." + target name + "." + mkstemp's 8 random characters + ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


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


def leftover_temp_files(directory: Path) -> list[Path]:
    """Temp files of atomic writes in `directory` that never reached their rename: the
    writer was killed mid-write. Only the one process writing the directory may remove them."""
    try:
        return sorted(p for p in Path(directory).iterdir() if _TEMP_NAME.match(p.name) and p.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def remove_leftover_temp_files(directory: Path) -> None:
    for path in leftover_temp_files(directory):
        path.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
