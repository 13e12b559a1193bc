"""Learning-rate controls: rate (on a log slider), decay rate and decay interval, applied to
the running training through `TrainingSession.change_schedule` (it takes effect at the next
step), with a plot of the schedule so far and of what the edited values would make of it.

The fields show the schedule in force (the rate as it decays) until the user edits one; Apply
changes only what was edited: a new decay rate or interval continues from the rate in force,
a new rate starts there. The preview is that same change.

The schedule is drawn from the run's own records (its config and the "schedule" and
"resume" records in the `MetricsHistory`), so a followed run shows its schedule too."""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

from drawstudio.config import TrainConfig
from drawstudio.errors import ConfigError
from drawstudio.studio.history import MetricsHistory
from drawstudio.studio.plots import show_from_zero, step_plot
from drawstudio.studio.theme import THEME
from drawstudio.train import schedule
from drawstudio.train.session import TrainingSession

LOG_LR_RANGE = (-6.0, -1.0)  # slider ends, log10 of the learning rate
SLIDER_TICKS_PER_DECADE = 100
PLOT_POINTS = 300
MIN_REDRAW_SECONDS = 1.0


class ScientificSpinBox(QDoubleSpinBox):
    """A spin box that shows and accepts 1.5e-04 and steps by a factor, not a fixed amount,
    because learning rates span decades."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(10 ** LOG_LR_RANGE[0], 10 ** LOG_LR_RANGE[1])
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.2e}"

    def valueFromText(self, text: str) -> float:
        return float(text)

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos

    def stepBy(self, steps: int) -> None:
        self.setValue(self.value() * 10 ** (0.1 * steps))


def plateau_status(train: TrainConfig, stale: int | None) -> str:
    """What the plateau rule will do, in a few words; `stale`: evaluations without a new best so far."""
    if not train.plateau_patience or train.plateau_factor == 1:
        return "plateau rule off"
    return (f"plateau rule: ×{train.plateau_factor:g} after {train.plateau_patience} evaluations without a new "
            f"best ({stale or 0} so far)")


class LrPane(QWidget):
    error = Signal(str)
    applied = Signal(str)  # a one-line confirmation for the status bar

    def __init__(self, history: MetricsHistory, parent: QWidget | None = None):
        super().__init__(parent)
        self.history = history
        self.train: TrainConfig | None = None  # the shown run's training settings
        self.session: TrainingSession | None = None  # the training it steers; None for a followed run
        self._last_draw = 0.0
        self._drawn_step = -1
        self._edited_fields: set[str] = set()  # "lr", "decay", "every": what Apply changes

        self.lr = ScientificSpinBox()
        self.lr_slider = QSlider(Qt.Orientation.Horizontal)
        low, high = (round(v * SLIDER_TICKS_PER_DECADE) for v in LOG_LR_RANGE)
        self.lr_slider.setRange(low, high)
        self.lr_slider.setToolTip("learning rate, log scale")
        self.lr_slider.valueChanged.connect(self._slider_moved)
        self.lr.valueChanged.connect(self._lr_typed)
        self.decay = QDoubleSpinBox()
        self.decay.setKeyboardTracking(False)
        self.decay.setRange(0.01, 1.0)
        self.decay.setDecimals(4)
        self.decay.setSingleStep(0.01)
        self.decay.setToolTip("the learning rate is multiplied by this every 'interval' steps (1 = constant)")
        self.every = QSpinBox()
        self.every.setRange(1, 10_000_000)
        self.every.setSingleStep(100)
        self.every.setSuffix(" steps")
        self.every.setKeyboardTracking(False)
        self.decay.valueChanged.connect(lambda: self._edited("decay"))
        self.every.valueChanged.connect(lambda: self._edited("every"))
        defaults = TrainConfig()
        self.lr.setValue(defaults.lr)
        self.decay.setValue(defaults.lr_decay)
        self.every.setValue(defaults.decay_every)
        self.apply_button = QPushButton("Apply to training")
        self.apply_button.setToolTip("changes only the edited values, at the next training step: a new decay "
                                     "continues from the rate in force")
        self.apply_button.clicked.connect(self.apply)
        self.status = QLabel()
        self.status.setWordWrap(True)

        lr_row = QHBoxLayout()
        lr_row.addWidget(self.lr)
        lr_row.addWidget(self.lr_slider, 1)
        form = QFormLayout()
        form.addRow("learning rate", lr_row)
        form.addRow("decay rate", self.decay)
        form.addRow("decay interval", self.every)

        self.plot, item, _ = step_plot("learning rate")
        self.current_curve = item.plot(name="schedule", pen=pg.mkPen(THEME.learning_rate, width=2))
        self.preview_curve = item.plot(name="with edited values", pen=pg.mkPen(THEME.schedule_preview, width=2,
                                                                                 style=Qt.PenStyle.DashLine))
        self.now_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(THEME.now_line),
                                        label="now", labelOpts={"position": 0.9, "color": THEME.text})
        item.addItem(self.now_line, ignoreBounds=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.status, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.plot, 1)
        self.set_run(None, None)

    def set_run(self, train: TrainConfig | None, session: TrainingSession | None,
                unsteered: str = "followed: its own process steers it") -> None:
        """Show the schedule of a run with training settings `train` (None: no run) and steer
        `session` (None: nothing to steer here, e.g. a followed run)."""
        self.train, self.session = train, session
        self.unsteered = unsteered  # why nothing here steers the run, when nothing does
        self._edited_fields.clear()
        for widget in (self.lr, self.lr_slider, self.decay, self.every, self.apply_button):
            widget.setEnabled(session is not None)
        self._drawn_step = -1
        if train is None:
            self.status.setText("no run open: create or open a run to see and steer its learning rate")
            self.current_curve.setData([], [])
            self.preview_curve.setData([], [])
            return
        self._show_current()

    def segments(self) -> list[schedule.Segment]:
        """The run's schedule as its records tell it."""
        assert self.train is not None
        return schedule.from_records(schedule.first_segment(self.train), self.history.schedule_records)

    def _show_current(self) -> None:
        """Fields the user has not edited show the schedule in force at the step reached."""
        step = self.history.step
        segments = self.segments()
        current = schedule.current_segment(step, segments)
        lr = schedule.learning_rate(step, segments)
        for name, box, value in (("lr", self.lr, lr), ("decay", self.decay, current.decay),
                                 ("every", self.every, current.every)):
            if name in self._edited_fields or box.hasFocus():
                continue
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        if "lr" not in self._edited_fields:
            self._sync_slider()

    def edits(self) -> dict[str, float | int]:
        """The schedule change Apply makes: only the edited values (`change_schedule` keywords)."""
        values = {"lr": self.lr.value(), "decay": self.decay.value(), "every": self.every.value()}
        return {name: values[name] for name in ("lr", "decay", "every") if name in self._edited_fields}

    def _sync_slider(self) -> None:
        self.lr_slider.blockSignals(True)
        self.lr_slider.setValue(round(math.log10(self.lr.value()) * SLIDER_TICKS_PER_DECADE))
        self.lr_slider.blockSignals(False)

    def _slider_moved(self, value: int) -> None:
        self.lr.blockSignals(True)
        self.lr.setValue(10 ** (value / SLIDER_TICKS_PER_DECADE))
        self.lr.blockSignals(False)
        self._edited("lr")

    def _lr_typed(self) -> None:
        self._sync_slider()
        self._edited("lr")

    def _edited(self, name: str) -> None:
        self._edited_fields.add(name)
        self._drawn_step = -1
        self._last_draw = 0.0

    def apply(self) -> None:
        edits = self.edits()
        if self.session is None or not edits:
            return
        try:
            self.session.change_schedule(**edits)
        except ConfigError as error:
            self.error.emit(str(error))
            return
        self._edited_fields.clear()
        self._drawn_step = -1
        words = {"lr": lambda v: f"learning rate {v:.2e}", "decay": lambda v: f"decay ×{v:g}",
                 "every": lambda v: f"every {v} steps"}
        kept = "" if "lr" in edits else " from the rate in force"
        self.applied.emit(", ".join(words[k](v) for k, v in edits.items()) + kept + ": takes effect at the next step")

    def refresh(self) -> bool:
        """Redraw the schedule plot when the step or the edits moved (at most once a second);
        True when it was redrawn."""
        if self.train is None:
            return False
        step, now = self.history.step, time.monotonic()
        if step == self._drawn_step or now - self._last_draw < MIN_REDRAW_SECONDS:
            return False
        self._drawn_step, self._last_draw = step, now
        self._show_current()
        segments = self.segments()
        horizon = max(step, 4 * self.every.value())  # far enough to see the decay; the past keeps half the width
        end = max(min(self.train.steps, step + horizon), step + 1)
        xs = np.linspace(0, end, PLOT_POINTS).round().astype(int)
        current = np.array([schedule.learning_rate(int(x), segments) for x in xs])
        self.current_curve.setData(xs, current)
        edited = schedule.change(segments, step, **self.edits())
        future = xs[xs >= step]
        preview = np.array([schedule.learning_rate(int(x), edited) for x in future])
        self.preview_curve.setData(future, preview)
        show_from_zero(self.plot.getPlotItem().getViewBox(), current, preview)
        self.now_line.setPos(step)
        lr = schedule.learning_rate(step, segments)
        current = schedule.current_segment(step, segments)
        follows = "constant" if current.decay == 1 else f"×{current.decay:g} every {current.every} steps"
        if current.decay_start > step:
            follows += f" from step {current.decay_start}"
        steered = "" if self.session is not None else f" ({self.unsteered})"
        self.status.setText(f"now {lr:.2e} at step {step} ({follows}){steered}; "
                            f"{plateau_status(self.train, self.history.plateau_stale)}")
        return True
