"""One writer per run directory: whoever trains a run (the command line, the studio, the writing
rank of a torchrun job) holds an exclusive `flock` on RUN/writer.lock while it does.

The kernel ties a `flock` to the open file, so it goes the moment its holder exits, however it
exits (SIGKILL too): a lock is never stale. The file itself stays: removing it would let a
process that opened it just before lock the removed file while a newcomer locks a new one, two
writers again. The holder writes who it is into the file, for the message a refused writer
prints. Readers (eval, sample, history, the studio's follow mode) never take the lock, so a
read-only run directory still opens for them.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import TextIO

from drawstudio.errors import RunDirError, RunLockedError

LOCK_NAME = "writer.lock"
COMMAND_CHARS = 200  # of the holder's command line in the message: enough to recognise it


def lock_path(run_dir: Path) -> Path:
    return Path(run_dir) / LOCK_NAME


class RunLock:
    """The lock of `run_dir` (created when missing), held from construction until `release`.
    Raises RunLockedError naming the holder when another process trains the run, RunDirError
    when the directory cannot be written or its file system cannot lock files."""

    def __init__(self, run_dir: Path):
        run_dir = Path(run_dir)
        path = lock_path(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            # appending: opening must not truncate what the holder wrote, should there be one
            self._file: TextIO | None = open(path, "a+", encoding="utf-8")
        except OSError as error:
            raise RunDirError(f"{run_dir}: cannot write the run directory ({error.strerror or error})") from None
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            self._file.close()  # not `release`: what the holder wrote stays
            self._file = None
            if error.errno == errno.EWOULDBLOCK:
                raise RunLockedError(
                    f"{run_dir}: already being trained by {describe_holder(run_dir)}; a run has one writer: "
                    f"let that one finish or stop it, or watch it live with `drawstudio gui --run {run_dir} "
                    "--follow` (eval, sample and history read it meanwhile)", run_dir
                ) from None
            raise RunDirError(
                f"{path}: this file system cannot lock files ({error.strerror or error}), so nothing stops a second "
                "process from training the run at the same time; put the run on a local disk"
            ) from None
        try:
            self._file.truncate(0)
            self._file.write(json.dumps(_holder()) + "\n")
            self._file.flush()
        except OSError as error:
            self.release()
            raise RunDirError(f"{path}: cannot write the run's lock ({error.strerror or error})") from None

    def release(self) -> None:
        """Let another process train the run (closing the file drops the lock), leaving the file
        empty: it names no one once no one holds it."""
        if self._file is not None:
            try:
                self._file.truncate(0)
            except OSError:
                pass  # a full or read-only disk: the lock, not the file's words, is what counts
            self._file.close()
            self._file = None


def _holder() -> dict[str, object]:
    argv = list(getattr(sys, "orig_argv", sys.argv))  # with the interpreter and -m: the command as typed
    command = shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else "?"
    if len(command) > COMMAND_CHARS:
        command = command[:COMMAND_CHARS] + "…"
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command}


def describe_holder(run_dir: Path) -> str:
    """Who holds the run's lock, as its holder wrote it: "pid 12 on host 'a' (python -m ...)"."""
    try:
        holder = json.loads(lock_path(run_dir).read_text(encoding="utf-8"))
        return f"pid {int(holder['pid'])} on host {str(holder['host'])!r} ({holder['command']})"
    except (OSError, ValueError, TypeError, KeyError):
        # the holder locks, then writes (and empties it on release): caught in between, or edited
        return "another process (it has not said which)"
