"""The attention trajectory: for one chosen image, the path of the read and of the write centre
over the drawing steps t = 1…T, drawn on the canvas (the paper's moving boxes as one line),
with the centre of the shown step t marked."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from drawstudio.studio.theme import THEME
from drawstudio.studio.tiles import origin
from drawstudio.train.snapshot import Attention

CentrePath = tuple[np.ndarray, np.ndarray]  # x and y over t, in tile coordinates


def centre_path(attention: Attention | None, index: int, columns: int, height: int, width: int) -> CentrePath | None:
    """Where example `index`'s grid centre is at every step, in the tiled frame's pixel-edge
    coordinates (the centre of a 1-based pixel g sits at g − 0.5), held inside its own tile as
    the boxes are: a centre off the image is drawn on the tile's edge, not over a neighbour."""
    if attention is None or not 0 <= index < attention.gx.shape[1]:
        return None
    x, y = origin(index, columns, height, width)
    return (np.clip(attention.gx[:, index] - 0.5, 0, width) + x, np.clip(attention.gy[:, index] - 0.5, 0, height) + y)


class TrajectoryOverlay:
    """The two paths and their current points on a view; items made once, updated in place."""

    def __init__(self, view: pg.ViewBox):
        self.paths: dict[str, CentrePath | None] = {"read": None, "write": None}
        self.lines = {}
        self.heads = {}
        for name, colour in (("read", THEME.read), ("write", THEME.write)):
            line = pg.PlotDataItem(pen=pg.mkPen(colour, width=1.5), symbol="o", symbolSize=4, symbolBrush=colour,
                                   symbolPen=None)
            head = pg.ScatterPlotItem(size=10, brush=None, pen=pg.mkPen(colour, width=2))
            for item in (line, head):
                item.setZValue(15)
                view.addItem(item, ignoreBounds=True)
            self.lines[name], self.heads[name] = line, head
        self.set_paths({})

    def set_paths(self, paths: dict[str, CentrePath | None]) -> None:
        """The paths to draw (a missing or None one is hidden)."""
        self.paths = {name: paths.get(name) for name in self.lines}
        for name, line in self.lines.items():
            path = self.paths[name]
            line.setVisible(path is not None)
            if path is not None:
                line.setData(*path)

    def show_step(self, t: int) -> None:
        for name, head in self.heads.items():
            path = self.paths[name]
            head.setVisible(path is not None)
            if path is not None:
                index = min(t, len(path[0])) - 1
                head.setData([path[0][index]], [path[1][index]])
