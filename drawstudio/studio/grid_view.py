"""A titled, aspect-locked view of one tiled image with optional outline overlays.

Its items are made once; `show` and `set_outlines` update them in place, which is what
keeps a redraw cheap (no item creation per frame)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from drawstudio.studio.plots import BACKGROUND

READ_COLOUR = (255, 70, 70)
WRITE_COLOUR = (60, 220, 90)


class GridView:
    def __init__(self, layout: pg.GraphicsLayout, title: str, row: int, col: int):
        self.label = layout.addLabel(title, row=row, col=col)
        self.view = layout.addViewBox(row=row + 1, col=col, lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self._outlines: dict[str, pg.PlotCurveItem] = {}
        self._shape: tuple[int, ...] | None = None

    def set_title(self, title: str) -> None:
        if title != self.label.text:  # setting a label re-lays out the view: only when it changed
            self.label.setText(title)

    def add_outline(self, name: str, colour: tuple[int, int, int], width: float = 1.5) -> None:
        curve = pg.PlotCurveItem(pen=pg.mkPen(colour, width=width), connect="finite", antialias=False)
        curve.setZValue(10)
        self._outlines[name] = curve
        self.view.addItem(curve)

    def show(self, frame: np.ndarray) -> None:
        """A float32 image in [0, 1], (h, w) grey or (h, w, 3) colour."""
        self.image.setImage(frame, autoLevels=False, levels=(0.0, 1.0))
        if frame.shape != self._shape:  # refit only when the layout changed, not every frame
            self._shape = frame.shape
            self.view.autoRange(padding=0.01)

    def set_outlines(self, name: str, x: np.ndarray | None, y: np.ndarray | None) -> None:
        curve = self._outlines[name]
        if x is None or y is None:
            curve.setVisible(False)
            return
        curve.setData(x, y)
        curve.setVisible(True)

    def clear(self) -> None:
        self.image.clear()
        for curve in self._outlines.values():
            curve.setVisible(False)
        self._shape = None


def make_layout_widget() -> pg.GraphicsLayoutWidget:
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground(BACKGROUND)
    widget.ci.setSpacing(2)
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return widget
