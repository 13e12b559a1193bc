"""The main window on the screen it opens on: its first geometry, and the default arrangement
of its docks for the size it has.

On a laptop screen (1280×720, 1366×768) the four docks cannot all sit beside the canvas at a
readable size: side by side they squeezed the curves to 300 pixels and the KL bars to a strip.
The default arrangement gives each dock a size at which it stays readable, and tabs the docks
that do not fit rather than squeezing them. The user's own arrangement replaces it (saved
with the window's settings) until View ▸ Reset layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

# A screen whose free area is smaller than this is a laptop's: the window opens maximised.
# On a larger one it opens at ROOMY_SHARE of the free area, centred.
ROOMY_SCREEN = QSize(1600, 900)
ROOMY_SHARE = 0.9
CHROME_HEIGHT = 90  # menu bar, toolbar and status bar: what the docks' column cannot use
RIGHT_SHARE, RIGHT_WIDTH = 0.36, (460, 900)  # the curves' column: its share of the width, its bounds
BOTTOM_SHARE, BOTTOM_HEIGHT = 0.3, (190, 420)  # the row under the canvas
LR_SHARE = 0.35  # of the column, when the learning rate sits under the curves
GLIMPSES_SHARE = 0.55  # of the row, when the KL heatmap sits beside the glimpses
# Below these sizes (pixels) a dock's plots lose their data area: the dock is tabbed instead.
CURVES_HEIGHT, LR_HEIGHT = 430, 340
GLIMPSES_WIDTH, HEATMAP_WIDTH = 420, 380


def available_geometry(window: QWidget) -> QRect:
    """The free area (without panels and docks) of the screen `window` is on."""
    return window.screen().availableGeometry()


def opens_maximised(available: QSize) -> bool:
    return available.width() < ROOMY_SCREEN.width() or available.height() < ROOMY_SCREEN.height()


def first_geometry(available: QRect) -> QRect:
    """The window's geometry the first time it opens on a screen with this free area: never
    larger than it; all of it on a laptop's screen."""
    if opens_maximised(available.size()):
        return QRect(available)
    size = QSize(round(available.width() * ROOMY_SHARE), round(available.height() * ROOMY_SHARE))
    rect = QRect(available.topLeft(), size)
    rect.moveCenter(available.center())
    return rect


@dataclass(frozen=True)
class DockPlan:
    right_width: int  # the column of curves and learning rate, right of the canvas, full height
    right_heights: tuple[int, int] | None  # curves over learning rate; None: tabbed
    bottom_height: int  # the row under the canvas
    bottom_widths: tuple[int, int] | None  # glimpses beside the KL heatmap; None: heatmap tabbed with lr


def plan_for(size: QSize) -> DockPlan:
    """Where the docks go in a window of `size`, and how large they are."""
    right = _clamp(size.width() * RIGHT_SHARE, RIGHT_WIDTH)
    column = size.height() - CHROME_HEIGHT
    right_heights = None
    if column >= CURVES_HEIGHT + LR_HEIGHT:
        lr = max(LR_HEIGHT, round(column * LR_SHARE))
        right_heights = (column - lr, lr)
    row = size.width() - right
    bottom_widths = None
    if row >= GLIMPSES_WIDTH + HEATMAP_WIDTH:
        glimpses = max(GLIMPSES_WIDTH, round(row * GLIMPSES_SHARE))
        bottom_widths = (glimpses, row - glimpses)
    return DockPlan(right, right_heights, _clamp(column * BOTTOM_SHARE, BOTTOM_HEIGHT), bottom_widths)


def arrange(window: QMainWindow, docks: dict[str, QDockWidget], plan: DockPlan) -> None:
    """Put `docks` ("curves", "lr", "glimpses", "heatmap") where `plan` says, wherever the user
    had moved, floated, closed or tabbed them."""
    curves, lr, glimpses, heatmap = (docks[name] for name in ("curves", "lr", "glimpses", "heatmap"))
    window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    window.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    for dock in docks.values():
        dock.setFloating(False)
        dock.show()
    # re-adding a dock takes it out of wherever it was, out of a tab group too
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, curves)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, glimpses)
    if plan.right_heights is None:
        window.tabifyDockWidget(curves, lr)
    else:
        window.splitDockWidget(curves, lr, Qt.Orientation.Vertical)
    if plan.bottom_widths is None:
        window.tabifyDockWidget(lr, heatmap)
    else:
        window.splitDockWidget(glimpses, heatmap, Qt.Orientation.Horizontal)
    for dock in (lr, curves):  # the front tab of each group
        dock.raise_()
    window.resizeDocks([curves], [plan.right_width], Qt.Orientation.Horizontal)
    window.resizeDocks([glimpses], [plan.bottom_height], Qt.Orientation.Vertical)
    if plan.right_heights is not None:
        window.resizeDocks([curves, lr], list(plan.right_heights), Qt.Orientation.Vertical)
    if plan.bottom_widths is not None:
        window.resizeDocks([glimpses, heatmap], list(plan.bottom_widths), Qt.Orientation.Horizontal)


def _clamp(value: float, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], round(value)))
