"""The look shared by the studio's plots: one dark background, and step-axis line plots."""

from __future__ import annotations

import pyqtgraph as pg

BACKGROUND = "#202124"
TEXT = "#dddddd"


def step_plot(y_label: str, legend_offset: tuple[int, int] = (-10, 10)
              ) -> tuple[pg.PlotWidget, pg.PlotItem, pg.LegendItem]:
    """A plot against the training step, with a grid and a legend (at the top right unless
    `legend_offset` says otherwise: negative values count from the right or bottom)."""
    widget = pg.PlotWidget(background=BACKGROUND)
    item = widget.getPlotItem()
    item.setLabel("bottom", "training step")
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.2)
    legend = item.addLegend(offset=legend_offset, labelTextColor=TEXT)
    legend.setBrush(pg.mkBrush(32, 33, 36, 200))
    return widget, item, legend
