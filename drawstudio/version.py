"""The installed version of drawstudio, for `drawstudio --version`."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def version() -> str:
    """The installed distribution's version; from a source tree that was never installed, the
    version its pyproject.toml declares."""
    try:
        return importlib.metadata.version("drawstudio")
    except importlib.metadata.PackageNotFoundError:
        try:
            return tomllib.loads(PYPROJECT.read_text())["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"
