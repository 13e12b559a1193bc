"""User-facing errors.

Anything a user can cause (a bad file, a wrong setting, a missing dataset) raises a
subclass of `DrawStudioError` whose message names the thing and the problem. The CLI
prints it on one line and exits non-zero; the studio shows it in a dialog. Everything
else is a bug and keeps its traceback.
"""

from pathlib import Path


class DrawStudioError(Exception):
    """A problem the user can fix; the message says what and where."""


class ConfigError(DrawStudioError):
    """An impossible or malformed setting."""


class DataError(DrawStudioError):
    """A dataset that is missing, truncated or malformed."""


class CheckpointError(DrawStudioError):
    """A checkpoint that cannot be loaded (corrupt, hostile, or a different model)."""


class RunDirError(DrawStudioError):
    """A run directory that cannot be read or written."""


class RunLockedError(RunDirError):
    """A run directory another process is training: it has one writer."""

    def __init__(self, message: str, run_dir: Path):
        super().__init__(message)
        self.run_dir = run_dir  # for an offer to follow it instead


class NonFiniteError(DrawStudioError):
    """The loss or gradient became NaN/inf; the weights were left untouched."""
