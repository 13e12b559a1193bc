"""A plot's legend outside its data area: a line of names above the plot that wraps to as
many lines as the pane's width needs, each name a toggle that hides or shows its curve.

pyqtgraph's legend floats inside the view box; in a pane a laptop screen leaves 300 pixels for,
it covered most of the curves it named.
"""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsObject, QLabel, QVBoxLayout, QWidget

from drawstudio.studio.theme import THEME


class PlotLegend(QLabel):
    """Installed as a PlotItem's `legend` (with pg.LegendItem's addItem and removeItem), so items
    plotted with a name (`PlotItem.plot(name=…)`) are listed here, and items removed from the
    plot leave it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.entries: list[tuple[QGraphicsObject, str]] = []
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.setToolTip("Click a name to hide or show its curve")
        self.setStyleSheet(f"background: {THEME.css('background')}; color: {THEME.css('text')}; padding: 2px 6px")
        self.linkActivated.connect(self._toggle)

    def names(self) -> list[str]:
        return [name for _, name in self.entries]

    def addItem(self, item: QGraphicsObject, name: str) -> None:
        self.entries.append((item, name))
        self._render()

    def removeItem(self, item: QGraphicsObject) -> None:
        self.entries = [(shown, name) for shown, name in self.entries if shown is not item]
        self._render()

    def _toggle(self, link: str) -> None:
        item = self.entries[int(link)][0]
        item.setVisible(not item.isVisible())
        self._render()

    def _render(self) -> None:
        # no-break spaces inside an entry, a plain space between entries: lines wrap between names
        entries = []
        for index, (item, name) in enumerate(self.entries):
            colour, mark = _sample(item)
            words = html.escape(name).replace(" ", "&nbsp;")
            if item.isVisible():
                style = f"color: {THEME.css('text')}"
            else:
                colour = THEME.css("legend_hidden")
                style = f"color: {colour}; text-decoration: line-through"
            entries.append(f'<a href="{index}" style="text-decoration: none">'
                           f'<span style="color: {colour}">{mark}</span>&nbsp;<span style="{style}">{words}</span></a>')
        self.setText("&nbsp;&nbsp; ".join(entries))


def _sample(item: QGraphicsObject) -> tuple[str, str]:
    """The colour and the mark that stand for `item`: a line, a dashed line or a dot."""
    opts = getattr(item, "opts", {})
    if opts.get("pen") is None and opts.get("symbol") is not None:
        return pg.mkBrush(opts.get("symbolBrush")).color().name(), "●"
    pen = pg.mkPen(opts.get("pen"))
    return pen.color().name(), "╍╍" if pen.style() != Qt.PenStyle.SolidLine else "━━"


class LegendedPlot(QWidget):
    """A PlotWidget with a `PlotLegend` above it, as one widget."""

    def __init__(self, plot: pg.PlotWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot
        self.legend = PlotLegend()
        plot.getPlotItem().legend = self.legend
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.legend)
        layout.addWidget(plot, 1)

    def getPlotItem(self) -> pg.PlotItem:  # PlotWidget's name: panes call either alike
        return self.plot_widget.getPlotItem()
