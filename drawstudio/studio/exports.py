"""The window's exports: the canvas pane's drawing as a GIF, its grid as a PNG, the run's
metrics as CSV. Each writes where it is told, or asks with a file dialog, and reports to
the window's status bar or, when the file cannot be written, as an error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog

from drawstudio.export.images import save_gif, save_metrics_csv, save_png
from drawstudio.train.metrics import read_metrics


class Exports:
    def __init__(self, window: Any):
        self.window = window  # the MainWindow: its canvas pane, history, open run and messages

    def gif(self, path: Path | None = None) -> None:
        """The drawing of the canvas pane's current mode, all T steps."""
        self._canvas(self.window.canvas.animation(), "animation", ".gif", save_gif, path)

    def png(self, path: Path | None = None) -> None:
        """The canvas pane's grid at the current step."""
        self._canvas(self.window.canvas.current_images(), "grid", ".png", save_png, path)

    def csv(self, path: Path | None = None) -> None:
        run = self.window.run
        if run is None:
            return
        target = self._path(path, "metrics", ".csv")
        if target is not None:
            records = read_metrics(run.run_dir / "metrics.jsonl")
            self._write("metrics", target, lambda p: save_metrics_csv(records, p))

    def _canvas(self, images: Any, what: str, suffix: str, save: Callable[..., None], path: Path | None) -> None:
        target = None if images is None else self._path(path, what, suffix)
        if target is not None:
            columns = self.window.canvas.columns
            self._write(what, target, lambda p: save(images, p, columns))

    def _path(self, path: Path | None, what: str, suffix: str) -> Path | None:
        if path is not None:
            return Path(path)
        window = self.window
        step = window.history.last_train["step"] if window.history.last_train else 0
        folder = window.run.run_dir / "exports" if window.run is not None else Path.home()
        suggested = folder / f"step-{step}-{window.canvas.current_mode}{suffix}"
        chosen, _ = QFileDialog.getSaveFileName(window, f"Export {what}", str(suggested), f"*{suffix}")
        return Path(chosen) if chosen else None

    def _write(self, what: str, path: Path, write: Callable[[Path], None]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
        except OSError as error:
            self.window.show_error(f"{path}: could not write the {what} ({error.strerror or error})")
            return
        self.window.show_status(f"wrote {path}")
