"""The package is laid out by job: the engine never reaches up into a face, and no module
grows past what a reader takes in at once."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import drawstudio

PACKAGE = Path(__file__).resolve().parents[1] / "drawstudio"
FACES = ("drawstudio.studio", "drawstudio.cli")
GUI_LIBRARIES = ("PySide6", "shiboken6", "pyqtgraph")
NOT_MODULES = ("drawstudio.resources", "drawstudio.__main__")  # a folder of data files; the CLI's entry point
MAX_LINES = 400


def modules(outside: tuple[str, ...]) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(drawstudio.__path__, "drawstudio.")
            if not m.name.startswith(outside) and m.name not in NOT_MODULES]


def imported_by(names: list[str]) -> list[str]:
    """Every module loaded after importing `names` in a fresh interpreter."""
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def qt_in(loaded: list[str]) -> list[str]:
    return [name for name in loaded if name.split(".")[0] in GUI_LIBRARIES]


def faces_in(loaded: list[str]) -> list[str]:
    return [name for name in loaded if name.startswith(tuple(f + "." for f in FACES)) or name in FACES]


def test_everything_but_the_studio_imports_without_loading_qt():
    names = modules(outside=("drawstudio.studio",))
    assert {"drawstudio.train.session", "drawstudio.cli.main", "drawstudio.bench.speed"} <= set(names)
    assert qt_in(imported_by(names)) == []


def test_the_engine_and_its_tools_import_no_face():
    names = modules(outside=FACES)
    assert {"drawstudio.train.trainer", "drawstudio.model.draw", "drawstudio.pretrained.viewer"} <= set(names)
    assert faces_in(imported_by(names)) == []


def test_the_checks_see_a_face_and_qt_when_they_are_imported():
    loaded = imported_by(["drawstudio.studio.main_window"])
    assert "drawstudio.studio.main_window" in faces_in(loaded) and "PySide6" in qt_in(loaded)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_a_reader_takes_in(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_package_root_holds_only_the_shared_vocabulary():
    loose = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__", "__main__", "config", "errors", "events", "settings_help", "version"]
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert subpackages == ["bench", "cli", "data", "export", "model", "pretrained", "recognition", "studio",
                           "system", "train"]


def test_the_wheel_lists_every_subpackage():
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    present = {"drawstudio"} | {f"drawstudio.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")}
    assert present <= listed
