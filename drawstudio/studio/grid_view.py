"""A titled, aspect-locked view of one tiled image with optional outline overlays.

Its items are made once; `show` and `set_outlines` update them in place, which is what
keeps a redraw cheap (no item creation per frame). The image is a `FrameItem`, not
pyqtgraph's ImageItem: frames arrive ready to paint (`tiles.tile_pixels`, prepared once
per snapshot), so there are no levels to apply and no conversion or copy per frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from drawstudio.studio.theme import THEME



class FrameItem(QGraphicsItem):
    """An RGB32 pixel array drawn one data unit per pixel, pixel (row 0, column 0) at the origin."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels: np.ndarray | None = None  # (h, w) uint32, kept alive while the QImage points into it
        self._image: QImage | None = None
        self._rect = QRectF()

    def set_pixels(self, pixels: np.ndarray | None) -> None:
        """Show `pixels` (C-contiguous (h, w) uint32 0xffRRGGBB) without copying them; None shows nothing."""
        rect = QRectF() if pixels is None else QRectF(0, 0, pixels.shape[1], pixels.shape[0])
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.pixels = pixels
        self._image = None if pixels is None else QImage(pixels.data, pixels.shape[1], pixels.shape[0],
                                                         pixels.strides[0], QImage.Format.Format_RGB32)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._image is not None:
            painter.drawImage(self._rect, self._image)


class GridView:
    def __init__(self, layout: pg.GraphicsLayout, title: str, row: int, col: int):
        self.label = layout.addLabel(title, row=row, col=col)
        self.view = layout.addViewBox(row=row + 1, col=col, lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.image = FrameItem()
        self.view.addItem(self.image)
        self._outlines: dict[str, pg.PlotCurveItem] = {}
        self._captions: list[pg.TextItem] = []
        self._shape: tuple[int, ...] | None = None

    @property
    def frame(self) -> np.ndarray | None:
        """The pixels shown, as given to `show`."""
        return self.image.pixels

    def set_title(self, title: str) -> None:
        if title != self.label.text:  # setting a label re-lays out the view: only when it changed
            self.label.setText(title)

    def add_outline(self, name: str, colour: tuple[int, int, int], width: float = 1.5) -> None:
        curve = pg.PlotCurveItem(pen=pg.mkPen(colour, width=width), connect="finite", antialias=False)
        curve.setZValue(10)
        self._outlines[name] = curve
        self.view.addItem(curve)

    def show(self, frame: np.ndarray) -> None:
        """Pixels from `tiles.tile_pixels`, (h, w) uint32, shown without a copy: pass an array
        (or a view of one) that is not modified afterwards."""
        self.image.set_pixels(frame)
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

    def set_captions(self, captions: list[tuple[float, float, str]]) -> None:
        """Small labels with their top-left corner at (x, y) pixels of the frame; items are
        made when first needed and reused."""
        while len(self._captions) < len(captions):
            item = pg.TextItem(color=THEME.caption_text, fill=pg.mkBrush(THEME.caption_fill), anchor=(0, 0))
            item.setZValue(20)
            self.view.addItem(item, ignoreBounds=True)
            self._captions.append(item)
        for item, (x, y, text) in zip(self._captions, captions):
            item.setText(text)
            item.setPos(x, y)
            item.setVisible(True)
        for item in self._captions[len(captions):]:
            item.setVisible(False)

    def clear(self) -> None:
        self.image.set_pixels(None)
        for curve in self._outlines.values():
            curve.setVisible(False)
        self.set_captions([])
        self._shape = None


def make_layout_widget() -> pg.GraphicsLayoutWidget:
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground(THEME.background)
    widget.ci.setSpacing(2)
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return widget
