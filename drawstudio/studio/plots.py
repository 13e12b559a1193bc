"""The look shared by the studio's plots: one dark background, and step-axis line plots."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

from drawstudio.studio.theme import THEME



def step_plot(y_label: str, legend_offset: tuple[int, int] = (-10, 10)
              ) -> tuple[pg.PlotWidget, pg.PlotItem, pg.LegendItem]:
    """A plot against the training step, with a grid and a legend (at the top right unless
    `legend_offset` says otherwise: negative values count from the right or bottom)."""
    widget = pg.PlotWidget(background=THEME.background)
    item = widget.getPlotItem()
    cache_axes(item)
    item.setLabel("bottom", "training step")
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.2)
    legend = item.addLegend(offset=legend_offset, labelTextColor=THEME.text)
    legend.setBrush(pg.mkBrush(THEME.legend_fill))
    return widget, item, legend


def cache_axes(item: pg.PlotItem) -> None:
    """Keep each axis as a pixmap, redrawn only when the axis itself changes. An axis that draws
    the grid spans the whole plot, so without this every new curve point replays its ticks,
    labels and grid lines: measured as the studio's largest GUI cost while training."""
    for name in ("left", "bottom", "right", "top"):
        item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def show_from_zero(view: pg.ViewBox, *values: np.ndarray) -> None:
    """Fit the y range to [0, the largest of `values`]: a learning rate is never negative, and a
    constant one autoranged on its own gets a meaningless range around it."""
    peak = max((float(np.nanmax(v)) for v in values if len(v)), default=0.0)
    if np.isfinite(peak) and peak > 0:
        view.setYRange(0, peak * 1.05, padding=0)
