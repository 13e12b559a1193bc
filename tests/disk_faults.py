"""Disk faults injected in-process at the system calls that would report them: tests may run as
root, whom chmod does not stop, and a full disk cannot be made on demand."""

from __future__ import annotations

import errno
import os
import tempfile
from typing import Any

import pytest


def failing(code: int, calls: list[int]):
    """A stand-in for a system call that fails with `code`, counting its calls."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise OSError(code, os.strerror(code))

    return fail


def inject(monkeypatch: pytest.MonkeyPatch, fault: str) -> list[int]:
    """Make checkpoint writes fail as `fault` would; returns the list of failed calls."""
    calls: list[int] = []
    if fault == "disk-full":  # delayed allocation reports a full disk when the data is flushed
        monkeypatch.setattr(os, "fsync", failing(errno.ENOSPC, calls))
    else:  # a read-only mount refuses to create the temp file
        monkeypatch.setattr(tempfile, "mkstemp", failing(errno.EROFS, calls))
    return calls


FAULTS = {"disk-full": "No space left on device", "read-only-directory": "Read-only file system"}
