"""The engine imports no Qt: everything outside drawstudio/studio/ runs on a server."""

import pkgutil
import subprocess
import sys

import drawstudio


NOT_MODULES = ("drawstudio.resources", "drawstudio.__main__")  # a folder of data files; the CLI's entry point


def engine_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(drawstudio.__path__, "drawstudio.")
            if not m.name.startswith("drawstudio.studio") and m.name not in NOT_MODULES]


def test_every_engine_module_imports_without_loading_qt():
    modules = engine_modules()
    assert {"drawstudio.train.follow", "drawstudio.train.opened_run", "drawstudio.train.session"} <= set(modules)
    program = ("import sys\n"
               f"for name in {modules!r}: __import__(name)\n"
               "loaded = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'pyqtgraph')))\n"
               "print(loaded)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
