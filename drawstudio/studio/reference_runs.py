"""Compare runs: other runs' loss curves, read once from their metrics.jsonl, drawn dashed
beside the open run's in the curves pane, named in the legend, removable from the
"compare" menu. The list is remembered with the window's settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton, QWidget

from drawstudio.errors import DrawStudioError, RunDirError
from drawstudio.studio.theme import THEME
from drawstudio.studio.history import MetricsHistory, moving_average
from drawstudio.train.metrics import read_metrics
from drawstudio.train.runs import load_run_config



class ReferenceRuns(QObject):
    error = Signal(str)

    def __init__(self, plot: pg.PlotItem, smoothing: Callable[[], int], parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot
        self.smoothing = smoothing
        self.runs: dict[str, tuple[pg.PlotDataItem, MetricsHistory]] = {}  # run folder → its curve and metrics
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self._fill_menu)
        self.button = QToolButton()
        self.button.setText("compare")
        self.button.setToolTip("Show other runs' loss as reference curves")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setMenu(self.menu)

    def paths(self) -> list[str]:
        return list(self.runs)

    def add(self, run_dir: Path) -> None:
        """Draw `run_dir`'s loss; raises a DrawStudioError saying why it cannot."""
        key = str(Path(run_dir).expanduser())
        if key in self.runs:
            return
        load_run_config(Path(key))
        history = MetricsHistory()
        history.extend(read_metrics(Path(key) / "metrics.jsonl"))
        if not len(history):
            raise RunDirError(f"{key}: the run has no training steps logged to compare with")
        colour = THEME.reference_runs[len(self.runs) % len(THEME.reference_runs)]
        curve = self.plot.plot(name=f"{Path(key).name}: loss (reference)",
                               pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine))
        self.runs[key] = (curve, history)
        self.resmooth()

    def remove(self, run_dir: str) -> None:
        curve, _ = self.runs.pop(str(run_dir))
        self.plot.removeItem(curve)  # and from the legend

    def restore(self, paths: list[str]) -> None:
        """Re-add remembered runs; one that has gone since is left out (and forgotten)."""
        for path in paths:
            try:
                self.add(Path(path))
            except DrawStudioError:
                continue

    def resmooth(self) -> None:
        window = self.smoothing()
        for curve, history in self.runs.values():
            curve.setData(history.steps, moving_average(history.train["loss"].values, window))

    def choose_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.button, "Compare with a run")
        if folder:
            try:
                self.add(Path(folder))
            except DrawStudioError as error:
                self.error.emit(str(error))

    def _fill_menu(self) -> None:
        self.menu.clear()
        self.menu.addAction("Add run…", self.choose_run)
        for path in self.runs:
            self.menu.addAction(f"Remove {Path(path).name}", lambda p=path: self.remove(p))
