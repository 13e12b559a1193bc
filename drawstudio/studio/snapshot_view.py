"""The redraw discipline shared by the panes that show a snapshot.

Incoming snapshots and timestep changes only mark the pane; the window's redraw timer
calls `refresh`, which lays out the newest snapshot once (dropping any that arrived in
between) and redraws the current step once, however many slider moves came before it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from drawstudio.studio.timeline import Timeline
from drawstudio.train.snapshot import Snapshot


class SnapshotView(QWidget):
    def __init__(self, timeline: Timeline, parent: QWidget | None = None):
        super().__init__(parent)
        self.timeline = timeline
        self.snapshot: Snapshot | None = None
        self._stale = False  # a new snapshot (or layout option) waits to be laid out
        self._dirty = False  # the shown step must be redrawn
        timeline.changed.connect(self.mark_dirty)

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        self.snapshot = snapshot
        self._stale = True

    def mark_stale(self, *_: object) -> None:
        self._stale = True

    def mark_dirty(self, *_: object) -> None:
        self._dirty = True

    def refresh(self) -> bool:
        """Redraw what changed; True when something was (so the window paints this pane now)."""
        drew = self._stale
        if self._stale:
            self._stale = False
            self._layout(self.snapshot)
            self._dirty = True
        if self._dirty and self.snapshot is not None:
            self._dirty = False
            self._draw(self.timeline.t)
            drew = True
        return drew

    def _layout(self, snapshot: Snapshot | None) -> None:
        """Precompute everything every step needs (runs once per snapshot)."""
        raise NotImplementedError

    def _draw(self, t: int) -> None:
        """Show step t from what `_layout` prepared (runs per frame)."""
        raise NotImplementedError
