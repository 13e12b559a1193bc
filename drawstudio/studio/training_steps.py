"""Scrubbing training time: the training-step bar under the canvas (a slider over the kept
steps of the run's history and a "live" button), the KL heatmap, and the choice of which
snapshot the snapshot panes show.

Opening a run reads its history on the GUI thread; after that a background thread polls
for new files (`HistoryReader` loads only files that are new since the last poll: a paper
model's snapshot takes tens of milliseconds to decompress, which on the GUI thread stalled
the window by 70 ms) and the GUI thread merges what it found. Live snapshots from training
or from a followed run pass straight through while "live" is on; while an old step is shown
they are kept, and "live" shows the newest again.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from drawstudio.studio.kl_heatmap import EMPTY_TEXT, TRAINED_MODEL_TEXT, KlHeatmap
from drawstudio.studio.step_history import StepHistory
from drawstudio.studio.timeline import Timeline
from drawstudio.train.history import HistoryChange, HistoryReader
from drawstudio.train.snapshot import Snapshot

POLL_MS = 2000


class TrainingStepBar(QWidget):
    """The slider over the kept training steps and the live button."""

    def __init__(self, steps: StepHistory, parent: QWidget | None = None):
        super().__init__(parent)
        self.steps = steps
        self.live = QToolButton()
        self.live.setText("● live")
        self.live.setCheckable(True)
        self.live.setChecked(True)
        self.live.setToolTip("Follow the newest snapshot (off: scrub the run's history)")
        self.live.toggled.connect(self._live_toggled)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Training step s: the snapshots kept in the run's history")
        self.slider.valueChanged.connect(steps.select)
        self.label = QLabel()
        self.label.setMinimumWidth(190)
        self.trained_model = False  # a shipped model has no history to scrub, and never will
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.live)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        steps.changed.connect(self.update_controls)
        self.update_controls()

    def _live_toggled(self, live: bool) -> None:
        if live:
            self.steps.go_live()
        elif self.steps.live:
            self.steps.select(len(self.steps.entries) - 1)

    def update_controls(self) -> None:
        steps = self.steps
        count = len(steps.entries)
        for widget in (self.slider, self.live):
            widget.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.setValue(count - 1 if steps.live else steps.index)
        self.live.setChecked(steps.live)
        for widget in (self.slider, self.live):
            widget.blockSignals(False)
        self.slider.setEnabled(count > 0)
        if not count:
            self.label.setText("s: none kept (trained model)" if self.trained_model else "s: no history yet")
        elif steps.live:
            self.label.setText(f"s = live ({count} kept)")
        else:
            self.label.setText(f"s = {steps.entries[steps.index].step:,} ({steps.index + 1} / {count} kept)")


class TrainingSteps(QObject):
    shown = Signal(object)  # the Snapshot the snapshot panes are to show
    _polled = Signal(object, object)  # (the reader that polled, its HistoryChange), from the poll thread

    def __init__(self, timeline: Timeline, poll_ms: int = POLL_MS, parent: QObject | None = None):
        super().__init__(parent)
        self.history = StepHistory()
        self.bar = TrainingStepBar(self.history)
        self.heatmap = KlHeatmap(self.history, timeline)
        self._reader: HistoryReader | None = None
        self._live: Snapshot | None = None
        self._shown: Snapshot | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll_in_background)
        self._polling = False
        self._polled.connect(self._merge, Qt.ConnectionType.QueuedConnection)
        self.history.changed.connect(self._choice_changed)

    def set_run(self, run_dir: Path | None, trained_model: bool = False) -> None:
        """Read `run_dir`'s history now and keep polling it (None: the run was closed, or a
        trained model, which has none; forget its history and its live snapshot)."""
        self.bar.trained_model = trained_model
        self.heatmap.empty.setText(TRAINED_MODEL_TEXT if trained_model else EMPTY_TEXT)
        self.timer.stop()
        self._reader = None if run_dir is None else HistoryReader(run_dir)
        if run_dir is None:
            self._live = self._shown = None
        self.history.clear()
        if self._reader is not None:
            self.poll()
            self.timer.start()

    def poll(self) -> None:
        """Read new history files now, on this thread."""
        if self._reader is not None:
            self.history.merge(self._reader.poll())

    def poll_in_background(self) -> None:
        """Read new history files on a thread of their own; the GUI thread merges them."""
        if self._reader is None or self._polling:
            return
        self._polling = True
        reader = self._reader
        threading.Thread(target=lambda: self._polled.emit(reader, reader.poll()), name="drawstudio-history",
                         daemon=True).start()

    def _merge(self, reader: HistoryReader, change: HistoryChange) -> None:
        self._polling = False
        if reader is self._reader:  # not a run closed while it was read
            self.history.merge(change)

    def offer_live(self, snapshot: Snapshot | None) -> None:
        """The newest snapshot of training (or of the followed run): shown unless scrubbed away."""
        self._live = snapshot
        if self.history.live:
            self._show(snapshot)

    def _choice_changed(self) -> None:
        self._show(self._live if self.history.live else self.history.selected())

    def _show(self, snapshot: Snapshot | None) -> None:
        if snapshot is not self._shown:  # a merge that keeps the choice does not lay it out again
            self._shown = snapshot
            self.shown.emit(snapshot)
