"""Plot axes whose tick labels never print over each other, however short the axis.

pyqtgraph decides how many levels of tick labels to draw from how much of the axis their text
fills in total, not from where each label lands: a log axis's minor labels (2·10², …, 9·10²)
bunch up below each decade and overprinted one another in a pane a laptop screen leaves
300 pixels for, and a heatmap's step labels ran together once its dock was narrow.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGraphicsItem

LABEL_GAP = 3.0  # pixels kept free around each tick label
SIDES = ("left", "bottom", "right", "top")


class ThinningAxis(pg.AxisItem):
    """An axis that leaves out every tick label that would touch one already placed. Labels come
    level by level, major ticks first, so a crowded axis keeps its decades and drops the ticks
    between them."""

    def generateDrawSpecs(self, p: QPainter) -> tuple | None:
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis_spec, tick_specs, text_specs = specs
        kept: list[tuple] = []
        for spec in text_specs:
            padded = spec[0].adjusted(-LABEL_GAP, -LABEL_GAP, LABEL_GAP, LABEL_GAP)
            if not any(padded.intersects(other[0]) for other in kept):
                kept.append(spec)
        return axis_spec, tick_specs, kept

    def logTickValues(self, minVal: float, maxVal: float, size: float, stdTicks: list) -> list:
        """Three levels: the decades, then 2· and 5· each decade, then the other minor ticks. Over
        less than three decades pyqtgraph puts the decades among the minor ticks, in value order:
        thinned from the bottom up, 10² lost its label to 9·10¹."""
        levels = super().logTickValues(minVal, maxVal, size, stdTicks)
        values = sorted({float(value) for _, level in levels for value in level})
        decades = [value for value in values if value.is_integer()]
        twos_and_fives = [value for value in values if round(10 ** (value % 1)) in (2, 5)]
        rest = [value for value in values if value not in decades and value not in twos_and_fives]
        return [(1.0, decades), (None, twos_and_fives), (None, rest)]


def thinning_axes() -> dict[str, ThinningAxis]:
    """One `ThinningAxis` per side, for a PlotWidget's `axisItems`. Each keeps its drawing as a
    pixmap, redrawn only when the axis itself changes: an axis that draws the grid spans the
    whole plot, so without this every new curve point replays its ticks, labels and grid lines
    (measured as the studio's largest GUI cost while training)."""
    axes = {side: ThinningAxis(side) for side in SIDES}
    for axis in axes.values():
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return axes
