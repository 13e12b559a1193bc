"""The curves pane: loss, reconstruction and KL per iteration (smoothable), the test-set NLL
as markers, the learning rate on its own right-hand axis, vertical markers where the
schedule was changed, and a bar chart of KL per drawing step.

Items are created once; `refresh` (on the window's redraw timer) re-sends data only when
the history moved, at most once a second, less often as the history grows.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QSplitter, QVBoxLayout, QWidget

from drawstudio.studio.history import MetricsHistory, moving_average
from drawstudio.studio.plots import plot_widget, show_from_zero, step_plot
from drawstudio.studio.theme import THEME
from drawstudio.studio.reference_runs import ReferenceRuns
from drawstudio.train.snapshot import Snapshot

MIN_REDRAW_SECONDS = 1.0  # curves move slowly; redrawing them more often only costs training CPU
# A redraw costs about 0.8 ms per 1,000 logged steps (measured at 50k, under Xvfb): waiting
# len(history) / this many seconds between redraws holds the curves near 2% of a core (and
# off the training thread's GIL) however long the run grows.
POINTS_PER_REDRAW_SECOND = 25_000
# Below these heights (in pixels, axes and titles included) the curves turn into a band and the
# bars into a strip whose axis labels run together: the splitter stops there instead.
CURVES_MIN_HEIGHT = 220
KL_BARS_MIN_HEIGHT = 130
CURVES = (("loss", "total loss (−ELBO)", THEME.loss), ("recon", "reconstruction", THEME.reconstruction),
          ("kl", "KL", THEME.kl))


class CurvesPane(QWidget):
    def __init__(self, history: MetricsHistory, parent: QWidget | None = None):
        super().__init__(parent)
        self.history = history
        self._drawn_revision = -1
        self._last_draw = 0.0
        self._kl_dirty = False
        self._kl_per_step: np.ndarray | None = None

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(1, 500)
        self.smoothing.setValue(20)
        self.smoothing.setToolTip("Moving average over this many logged steps (1 = raw)")
        self.smoothing_label = QLabel()
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.log_y = QCheckBox("log scale")
        self.log_y.setChecked(True)
        self.log_y.toggled.connect(self._log_changed)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("smoothing"))
        controls.addWidget(self.smoothing, 1)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.log_y)

        self.plot, item, legend = step_plot("nats per image")
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        self.curves = {name: item.plot(name=label, pen=pg.mkPen(colour, width=1.5))
                       for name, label, colour in CURVES}
        self.eval_points = item.plot(name="test NLL", pen=None, symbol="o", symbolSize=8,
                                     symbolBrush=THEME.evaluation, symbolPen=pg.mkPen(THEME.background))
        self.lr_view = pg.ViewBox()
        item.showAxis("right")
        item.scene().addItem(self.lr_view)
        right = item.getAxis("right")
        right.linkToView(self.lr_view)
        right.setLabel("learning rate", color=THEME.learning_rate)
        self.lr_view.setXLink(item)
        item.vb.sigResized.connect(self._sync_lr_view)
        self.lr_curve = pg.PlotDataItem(pen=pg.mkPen(THEME.learning_rate, width=1.5, style=Qt.PenStyle.DashLine))
        self.lr_view.addItem(self.lr_curve)
        legend.addItem(self.lr_curve, "learning rate (right axis)")
        self.markers: list[pg.InfiniteLine] = []
        self.references = ReferenceRuns(item, self.smoothing.value, self)
        controls.addWidget(self.references.button)

        self.kl_plot = plot_widget()
        kl_item = self.kl_plot.getPlotItem()
        # axis labels and no title: a title's line took a third of the bars' height in a laptop's pane
        kl_item.setLabel("left", "KL (nats)")
        kl_item.setLabel("bottom", "drawing step t (KL on the fixed test batch)")
        kl_item.setMouseEnabled(x=False, y=False)
        self.kl_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=THEME.kl, pen=None)
        kl_item.addItem(self.kl_bars)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.kl_plot)
        splitter.setChildrenCollapsible(False)
        self.plot.setMinimumHeight(CURVES_MIN_HEIGHT)
        self.kl_plot.setMinimumHeight(KL_BARS_MIN_HEIGHT)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)
        self._smoothing_changed(self.smoothing.value())
        self._log_changed(self.log_y.isChecked())

    def _sync_lr_view(self) -> None:
        item = self.plot.getPlotItem()
        self.lr_view.setGeometry(item.vb.sceneBoundingRect())
        self.lr_view.linkedViewChanged(item.vb, self.lr_view.XAxis)

    def _smoothing_changed(self, window: int) -> None:
        self.smoothing_label.setText(f"{window} steps" if window > 1 else "raw")
        self.references.resmooth()
        self._drawn_revision = -1
        self._last_draw = 0.0

    def _log_changed(self, log: bool) -> None:
        item = self.plot.getPlotItem()
        item.setLogMode(False, log)
        item.getAxis("right").setLogMode(False)  # PlotItem switches every axis; the learning rate stays linear

    def restore_settings(self, settings: QSettings) -> None:
        self.smoothing.setValue(int(settings.value("smoothing", self.smoothing.value())))
        references = settings.value("reference_runs", [])
        self.references.restore([references] if isinstance(references, str) else list(references or []))

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("smoothing", self.smoothing.value())
        settings.setValue("reference_runs", self.references.paths())

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        self._kl_per_step = None if snapshot is None else snapshot.kl_per_step
        self._kl_dirty = True

    def reset(self) -> None:
        """Forget what was drawn (a different run's history is coming). The KL bars stay: the
        new run's first snapshot can arrive while it is being opened, before this reset."""
        self._drawn_revision = -1
        self._last_draw = 0.0

    def refresh(self) -> bool:
        """Redraw the KL bars or the curves, whichever is due (one per call, to keep each paint
        short); True when something was redrawn."""
        if self._kl_dirty:
            self._kl_dirty = False
            kl = self._kl_per_step if self._kl_per_step is not None else np.zeros(0)
            self.kl_bars.setOpts(x=np.arange(1, len(kl) + 1), height=kl)
            self.kl_plot.getPlotItem().autoRange()
            return True
        now = time.monotonic()
        interval = max(MIN_REDRAW_SECONDS, len(self.history) / POINTS_PER_REDRAW_SECOND)
        if self.history.revision == self._drawn_revision or now - self._last_draw < interval:
            return False
        self._drawn_revision = self.history.revision
        self._last_draw = now
        history = self.history
        steps = history.steps
        window = self.smoothing.value()
        for name, curve in self.curves.items():
            curve.setData(steps, moving_average(history.train[name].values, window))
        self.eval_points.setData(history.eval_step.values, history.eval_nll.values)
        # a trained model ships its evaluations only, each with the rate it was made at
        lr_steps, lr = ((steps, history.train["lr"].values) if len(steps)
                        else (history.eval_step.values, history.eval_lr.values))
        self.lr_curve.setData(lr_steps, lr)
        show_from_zero(self.lr_view, lr)
        self._place_markers()
        return True

    def _place_markers(self) -> None:
        """One vertical line per schedule change; lines are reused, never re-created per frame."""
        changes = self.history.schedule_changes
        item = self.plot.getPlotItem()
        while len(self.markers) < len(changes):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(THEME.schedule_marker, width=1),
                                   label="", labelOpts={"position": 0.95, "color": THEME.learning_rate})
            item.addItem(line, ignoreBounds=True)
            self.markers.append(line)
        for index, line in enumerate(self.markers):
            visible = index < len(changes)
            line.setVisible(visible)
            if visible:
                change = changes[index]
                line.setPos(change["step"])
                line.label.setPosition(0.95 - 0.06 * (index % 3))  # neighbouring changes' labels don't overlap
                by_rule = "plateau: " if change.get("rule") == "plateau" else ""
                line.label.setFormat(f"{by_rule}lr {change['lr']:.1e}, ×{change['decay']:g}/{change['every']}")
