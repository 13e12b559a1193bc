"""Loaded at start-up by Python processes that have this folder on PYTHONPATH: the kill
test's training processes. With DRAWSTUDIO_TEST_SLOW_WRITE=SECONDS every atomic write (the
checkpoints) pauses that long after its first chunk, with the part written so far flushed
to the temp file, so the test can SIGKILL a process inside a checkpoint write on purpose
rather than by luck. Nothing in drawstudio knows about it."""

import os
import time
from typing import Any, BinaryIO

_PAUSE = float(os.environ.get("DRAWSTUDIO_TEST_SLOW_WRITE", "0"))


class _PausingFile:
    """A file whose first write is followed by a pause; everything else goes to the file."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._paused = False

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        if not self._paused:
            self._paused = True
            self._handle.flush()
            time.sleep(_PAUSE)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


if _PAUSE > 0:
    from drawstudio import atomic

    _atomic_write = atomic.atomic_write

    def _slow_atomic_write(path: Any, write: Any) -> None:
        _atomic_write(path, lambda handle: write(_PausingFile(handle)))

    atomic.atomic_write = _slow_atomic_write
