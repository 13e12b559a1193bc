"""Files the project ships beside its code (the top-level `resources/` folder): the
application icon, the studio's colour theme, a Linux desktop entry and the pretrained models.
A source checkout reads them from that folder; an installed wheel carries them as
`drawstudio.resources`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from drawstudio.errors import DrawStudioError

_CHECKOUT = Path(__file__).resolve().parents[2] / "resources"


def _locate(name: str, exists: str) -> Path:
    """`name` in the checkout's resources/ when it is there (`exists` is the Path method that
    says so), else in the installed package's."""
    path = _CHECKOUT / name
    if not getattr(path, exists)():
        try:
            path = Path(str(files("drawstudio.resources").joinpath(name)))
        except ModuleNotFoundError:
            pass
    return path


def resource_path(name: str) -> Path:
    """The shipped file `name` as a path on disk."""
    path = _locate(name, "is_file")
    if not path.is_file():
        raise DrawStudioError(f"resources/{name}: missing from this installation of DRAW Studio")
    return path


def resource_dir(name: str) -> Path:
    """The shipped folder `name` (it may be missing: callers say what that means)."""
    return _locate(name, "is_dir")
