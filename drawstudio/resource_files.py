"""Files the project ships beside its code (the top-level `resources/` folder): the
application icon, the studio's colour theme and a Linux desktop entry. A source checkout
reads them from that folder; an installed wheel carries them as `drawstudio.resources`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from drawstudio.errors import DrawStudioError

_CHECKOUT = Path(__file__).resolve().parents[1] / "resources"


def resource_path(name: str) -> Path:
    """The shipped file `name` as a path on disk."""
    path = _CHECKOUT / name
    if not path.is_file():
        try:
            path = Path(str(files("drawstudio.resources").joinpath(name)))
        except ModuleNotFoundError:
            pass
    if not path.is_file():
        raise DrawStudioError(f"resources/{name}: missing from this installation of DRAW Studio")
    return path
