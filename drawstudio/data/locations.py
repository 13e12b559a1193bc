"""Where datasets are looked for when no data_dir is given, and how to describe a miss.

The usual places are data roots: `$DRAWSTUDIO_DATA` when set, then
`~/.cache/drawstudio/data`. Downloads go to the first of them. Each dataset module
decides which subfolders of a root it searches.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DRAWSTUDIO_DATA"
_MAX_LISTED = 8


def default_roots() -> list[Path]:
    """The data roots searched, in order, when no data_dir is given."""
    roots = []
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(Path.home() / ".cache" / "drawstudio" / "data")
    return roots


def download_root(data_dir: str | Path | None) -> Path:
    """Where a download lands: the given data_dir, else the first default root."""
    return Path(data_dir).expanduser() if data_dir is not None else default_roots()[0]


def describe_miss(directory: Path, what: str) -> str:
    """'no <what> files in <dir> (found: ...)': one item of a 'looked everywhere' message."""
    try:
        if not directory.exists():
            return f"{directory} (does not exist)"
        if not directory.is_dir():
            return f"{directory} (not a directory)"
        names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in directory.iterdir())
    except OSError as error:
        return f"{directory} (cannot list: {error.strerror or error})"
    if not names:
        return f"no {what} files in {directory} (empty)"
    shown = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", ... {len(names) - _MAX_LISTED} more"
    return f"no {what} files in {directory} (found: {shown})"
