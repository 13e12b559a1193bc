"""The one place where engine events cross into Qt.

The engine (a `TrainingSession` or a `RunFollower`) emits plain `Event`s from its own
thread. The bridge, which lives on the GUI thread, re-emits them as Qt signals queued to
the GUI thread, so every slot connected here may touch widgets.

Metrics records and snapshots are coalesced: the engine thread only appends to a buffer
(or replaces the newest snapshot) and posts one wake-up while none is pending, so a burst
of records, or a backlog of a followed run's file, costs one queued event, and
snapshots that arrive while the GUI is busy are dropped in favour of the newest.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from drawstudio.events import Event, EventSource


class Bridge(QObject):
    state_changed = Signal(str)
    records = Signal(object)  # list of metrics record dicts, as written to metrics.jsonl, oldest first
    snapshot_ready = Signal(object)  # drawstudio.train.snapshot.Snapshot
    error = Signal(str)
    _wake = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._snapshot: Any = None
        self._pending = False
        self._links: list[tuple[Event, Any]] = []
        self._wake.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def attach(self, source: EventSource) -> None:
        """Forward `source`'s events (detaching any previous source first)."""
        self.detach()
        self._links = [
            (source.state_changed, self.state_changed.emit),
            (source.metrics, self._queue_record),
            (source.snapshot_ready, self._queue_snapshot),
            (source.error, self.error.emit),
        ]
        for event, slot in self._links:
            event.connect(slot)

    def detach(self) -> None:
        for event, slot in self._links:
            event.disconnect(slot)
        self._links = []
        with self._lock:
            self._records, self._snapshot = [], None

    # ---- engine thread ------------------------------------------------------------

    def _queue_record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(record)
        self._post()

    def _queue_snapshot(self, snapshot: Any) -> None:
        with self._lock:
            self._snapshot = snapshot
        self._post()

    def _post(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        self._wake.emit()

    # ---- GUI thread ---------------------------------------------------------------

    def _deliver(self) -> None:
        with self._lock:
            records, self._records = self._records, []
            snapshot, self._snapshot = self._snapshot, None
            self._pending = False
        if records:
            self.records.emit(records)
        if snapshot is not None:
            self.snapshot_ready.emit(snapshot)
