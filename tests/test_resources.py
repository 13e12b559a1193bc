"""The shipped resources (resources/): found from a checkout and from an installed wheel,
a theme that names every colour, an icon Qt can draw."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from drawstudio.errors import DrawStudioError
from drawstudio.studio import theme
from drawstudio.system.resource_files import resource_path


@pytest.mark.parametrize("name", ["theme.json", "icon.svg", "drawstudio.desktop"])
def test_each_shipped_resource_is_found(name):
    assert resource_path(name).is_file()


def test_a_missing_resource_is_an_error_naming_it():
    with pytest.raises(DrawStudioError, match="resources/nothing.json: missing"):
        resource_path("nothing.json")


def test_the_theme_gives_every_pane_its_colours():
    loaded = theme.load_theme()
    assert loaded.read == (255, 70, 70) and loaded.background == "#202124"
    assert loaded.css("read") == "rgb(255, 70, 70)" and loaded.css("error_text") == "#e05050"
    assert len(loaded.reference_runs) >= 2 and all(isinstance(c, str) for c in loaded.reference_runs)


@pytest.mark.parametrize("change, problem", [
    (lambda d: d.pop("read"), "missing \\['read'\\]"),
    (lambda d: d.update(sparkle="#fff"), "unknown \\['sparkle'\\]"),
])
def test_a_theme_with_a_missing_or_unknown_colour_is_refused_naming_it(tmp_path, monkeypatch, change, problem):
    import json

    data = json.loads(resource_path("theme.json").read_text())
    change(data)
    path = tmp_path / "theme.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(theme, "resource_path", lambda name: path)
    with pytest.raises(DrawStudioError, match=problem):
        theme.load_theme()


def test_the_icon_is_an_image_qt_can_draw(qapp):
    from PySide6.QtGui import QIcon

    pixmap = QIcon(str(resource_path("icon.svg"))).pixmap(64, 64)
    assert not pixmap.isNull()
    image = pixmap.toImage()
    assert image.pixelColor(32, 4).alpha() == 255 and image.pixelColor(1, 1).alpha() == 0  # rounded corners


def test_an_installed_wheel_carries_the_resources(tmp_path):
    root = resource_path("theme.json").parents[1]
    source = tmp_path / "source"  # setuptools leaves a build/ folder in the tree it builds
    for name in ("drawstudio", "resources"):
        shutil.copytree(root / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(source)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("drawstudio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"drawstudio/resources/{n}" for n in ("theme.json", "icon.svg", "drawstudio.desktop")} <= names
