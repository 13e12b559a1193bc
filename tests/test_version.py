"""One version everywhere: `drawstudio --version`, the installed distribution's metadata (what
the wheel carries), pyproject.toml, the studio's Help ▸ About box and CHANGELOG.md's newest
release. A bump in one place and not the others would have bug reports name versions that do
not exist."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_command_line_and_the_installed_wheel_report_pyprojects_version():
    done = subprocess.run([sys.executable, "-m", "drawstudio", "--version"], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == f"drawstudio {pyproject_version()}"
    assert importlib.metadata.version("drawstudio") == pyproject_version()


def test_the_changelogs_newest_release_is_pyprojects_version():
    releases = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases and releases[0] == pyproject_version()


def test_help_about_shows_the_same_version(studio, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.append((title, text)))
    (help_menu,) = [action.menu() for action in studio.menuBar().actions() if action.text() == "&Help"]
    (about,) = [action for action in help_menu.actions() if action.text() == "&About DRAW Studio"]
    about.trigger()
    ((title, text),) = shown
    assert title == "About DRAW Studio"
    assert f"DRAW Studio</b> {pyproject_version()}<br>" in text
