"""The glimpse pane: for step t and every example of the fixed batch, what the encoder
read (the N×N glimpse of x and of the error image x̂) and the N×N patch the decoder wrote.

Glimpses are γ-scaled and patches are in logit units, so each kind is scaled to [0, 1]
over all T steps of a snapshot together: brightness stays comparable while scrubbing.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

from drawstudio.studio.grid_view import GridView, make_layout_widget
from drawstudio.studio.snapshot_view import SnapshotView
from drawstudio.studio.tiles import columns_for, positive_to_unit, signed_to_unit, tile_pixels
from drawstudio.studio.timeline import Timeline
from drawstudio.train.snapshot import Snapshot

# Short titles: a title is as wide as its grid's column at the least, and three long ones pushed
# the write patches out of a laptop-sized pane. The tooltip says the rest.
TITLES = ("read: glimpse of x", "read: glimpse of x − σ(c)", "write: patch w_t")
TOOLTIP = ("For each image of the batch at drawing step t: the N×N glimpse the encoder read from the image x "
           "and from the error image x − σ(c), and the patch the decoder wrote; grey is 0 in the last two.")
NOT_KEPT = "not kept in the training history: live snapshots only"


def glimpse_frames(snapshot: Snapshot) -> list[np.ndarray]:
    """Three (T, h, w) stacks of tiled pixels: x glimpses, error glimpses, write patches."""
    glimpses = snapshot.read_glimpses
    columns = columns_for(glimpses.shape[1])
    kinds = (positive_to_unit(glimpses[:, :, 0]), signed_to_unit(glimpses[:, :, 1]),
             signed_to_unit(snapshot.write_patches))
    return [tile_pixels(kind, columns) for kind in kinds]


class GlimpsePane(SnapshotView):
    def __init__(self, timeline: Timeline, parent: QWidget | None = None):
        super().__init__(timeline, parent)
        self.frames: list[np.ndarray] = []
        self.graphics = make_layout_widget()
        self.views = [GridView(self.graphics.ci, title, 0, col) for col, title in enumerate(TITLES)]
        self.graphics.setToolTip(TOOLTIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.graphics)

    def _layout(self, snapshot: Snapshot | None) -> None:
        kept = snapshot is not None and snapshot.read_glimpses.size > 0  # the training history does not keep them
        self.frames = glimpse_frames(snapshot) if kept else []
        titles = TITLES if kept or snapshot is None else (NOT_KEPT, "", "")
        for view, title in zip(self.views, titles):
            if not kept:
                view.clear()
            view.set_title(title)

    def _draw(self, t: int) -> None:
        for view, frames in zip(self.views, self.frames):
            view.show(frames[min(t, len(frames)) - 1])
