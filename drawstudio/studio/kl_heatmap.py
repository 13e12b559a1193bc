"""The KL heatmap: KL of each drawing step t (up) at each kept training step s (across), as one
image with a colour bar; clicking a cell shows that (s, t) in the snapshot panes.

Columns are the kept steps in order (the history is log-spaced early), labelled with their
step numbers. The image and the frame marking the shown cell are made once and updated.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from drawstudio.studio.plots import plot_widget
from drawstudio.studio.theme import THEME
from drawstudio.studio.step_history import StepHistory
from drawstudio.studio.timeline import Timeline

MAX_TICKS = 8
EMPTY_TEXT = "No training history yet: training keeps snapshots at steps 1, 2, 5, 10, … in the run folder."
TRAINED_MODEL_TEXT = ("A trained model ships without its training history: the KL of each drawing step, as it is "
                      "now, is the bar chart under the training curves. Training ▸ Continue training from here… keeps one.")


class CellImage(pg.ImageItem):
    """An image whose left clicks report the (column, row) of the pixel clicked."""

    clicked = Signal(int, int)

    def mouseClickEvent(self, event: object) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.image is not None:
            pos = event.pos()
            rows, columns = self.image.shape[:2]
            column, row = int(np.floor(pos.x())), int(np.floor(pos.y()))
            if 0 <= column < columns and 0 <= row < rows:
                event.accept()
                self.clicked.emit(column, row)


class KlHeatmap(QWidget):
    def __init__(self, steps: StepHistory, timeline: Timeline, parent: QWidget | None = None):
        super().__init__(parent)
        self.steps = steps
        self.timeline = timeline
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setWordWrap(True)
        self.plot = plot_widget()
        item = self.plot.getPlotItem()
        # no title (the dock has one): in a laptop's dock a title's line was a third of the data area
        self.plot.setToolTip("KL of each drawing step t (nats, on the fixed batch) at each kept training step; "
                             "click a cell to show that step")
        item.setLabel("bottom", "kept training step")
        item.setLabel("left", "drawing step t")
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.image = CellImage(axisOrder="row-major")
        item.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(THEME.heatmap_colour_map),
                                          interactive=False, label="KL (nats)")
        self.colour_bar.setImageItem(self.image, insert_in=item)
        self.cursor = pg.PlotCurveItem(pen=pg.mkPen(THEME.heatmap_cursor, width=2))
        item.addItem(self.cursor, ignoreBounds=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.empty)
        layout.addWidget(self.plot, 1)
        self.setMinimumWidth(360)

        self.image.clicked.connect(self.choose)
        steps.changed.connect(self.update_image)
        timeline.changed.connect(self._place_cursor)
        self.update_image()

    def choose(self, column: int, row: int) -> None:
        """Show kept step `column` at drawing step `row` + 1 (what a click on that cell does)."""
        self.steps.select(column)
        self.timeline.set_length(self.image.image.shape[0])  # the panes may not have laid the snapshot out yet
        self.timeline.set_t(row + 1)

    def update_image(self) -> None:
        matrix = self.steps.kl_matrix().T  # (T, kept): drawing steps up, training steps across
        has_history = matrix.size > 0
        self.empty.setVisible(not has_history)
        self.plot.setVisible(has_history)
        if not has_history:
            self.image.clear()
            self.cursor.setData([], [])
            return
        self.image.setImage(np.nan_to_num(matrix), autoLevels=False)
        top = float(np.nanmax(matrix)) if np.isfinite(matrix).any() else 1.0
        self.colour_bar.setLevels((0.0, max(top, 1e-6)))
        # cell (column i, row r) spans [i, i + 1] × [r, r + 1]: label the centres with step s and t
        steps = self.steps.steps
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setTicks([_ticks(steps)])
        item.getAxis("left").setTicks([_ticks(list(range(1, matrix.shape[0] + 1)))])
        item.getViewBox().setRange(xRange=(0, matrix.shape[1]), yRange=(0, matrix.shape[0]), padding=0)
        self._place_cursor()

    def _place_cursor(self, *_: object) -> None:
        """A frame around the shown cell (the newest kept step while live)."""
        if not self.steps.entries:
            return
        column = len(self.steps.entries) - 1 if self.steps.index is None else self.steps.index
        row = min(self.timeline.t, self.image.image.shape[0]) - 1
        x0, y0 = column, row
        self.cursor.setData([x0, x0 + 1, x0 + 1, x0, x0], [y0, y0, y0 + 1, y0 + 1, y0])


def _ticks(values: list[int]) -> list[tuple[float, str]]:
    every = max(1, -(-len(values) // MAX_TICKS))
    return [(i + 0.5, f"{values[i]:,}") for i in range(0, len(values), every)]
