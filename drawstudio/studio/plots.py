"""The look shared by the studio's plots: one dark background, axes whose tick labels never
overprint, and step-axis line plots with their legend outside the data area."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from drawstudio.studio.axes import thinning_axes
from drawstudio.studio.plot_legend import LegendedPlot, PlotLegend
from drawstudio.studio.theme import THEME


def plot_widget() -> pg.PlotWidget:
    """A plot with the studio's background and axes, the left and bottom ones shown."""
    widget = pg.PlotWidget(background=THEME.background, axisItems=thinning_axes())
    for side in ("top", "right"):  # PlotItem shows every axis it is given
        widget.getPlotItem().hideAxis(side)
    return widget


def step_plot(y_label: str) -> tuple[LegendedPlot, pg.PlotItem, PlotLegend]:
    """A plot against the training step, with a grid and a legend above it."""
    widget = LegendedPlot(plot_widget())
    item = widget.getPlotItem()
    item.setLabel("bottom", "training step")
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.2)
    return widget, item, widget.legend


def show_from_zero(view: pg.ViewBox, *values: np.ndarray) -> None:
    """Fit the y range to [0, the largest of `values`]: a learning rate is never negative, and a
    constant one autoranged on its own gets a meaningless range around it."""
    peak = max((float(np.nanmax(v)) for v in values if not np.isnan(v).all()), default=0.0)  # an older card: no rate
    if np.isfinite(peak) and peak > 0:
        view.setYRange(0, peak * 1.05, padding=0)
