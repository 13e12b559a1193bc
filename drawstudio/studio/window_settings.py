"""What the studio keeps between sessions in QSettings: the window's layout, the recent
runs, the last data folder, and each pane's view settings (smoothing, reference runs,
playback speed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 8


class WindowSettings:
    def __init__(self, settings: QSettings):
        self.settings = settings

    def recent_runs(self) -> list[str]:
        value = self.settings.value("recent_runs", [])
        return [value] if isinstance(value, str) else list(value or [])

    def remember(self, run_dir: Path) -> None:
        """Put `run_dir` first in the recent runs."""
        recent = [str(run_dir)] + [r for r in self.recent_runs() if r != str(run_dir)]
        self.settings.setValue("recent_runs", recent[:MAX_RECENT])

    def data_dir(self) -> str:
        """Where the last new run's data was ("" for the usual places)."""
        return str(self.settings.value("data_dir", "", str))

    def remember_data_dir(self, data_dir: str | None) -> None:
        self.settings.setValue("data_dir", data_dir or "")

    def restore_geometry(self, window: Any) -> bool:
        """The window's saved size and place; False when there is none (a first open)."""
        geometry = self.settings.value("geometry")
        return isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)

    def restore(self, window: Any) -> None:
        """The user's arrangement of the docks and the panes' view settings."""
        state = self.settings.value("window_state")
        if isinstance(state, QByteArray):
            window.restoreState(state)
        window.curves.restore_settings(self.settings)
        window.canvas.fps.setValue(float(self.settings.value("playback_fps", window.canvas.fps.value())))

    def save(self, window: Any) -> None:
        self.settings.setValue("geometry", window.saveGeometry())
        self.settings.setValue("window_state", window.saveState())
        window.curves.save_settings(self.settings)
        self.settings.setValue("playback_fps", window.canvas.fps.value())
        self.settings.sync()
