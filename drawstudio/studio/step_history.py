"""Which training step the snapshot panes show (no Qt): the newest ("live"), or one kept in
the run's history. Entries arrive from `HistoryReader.poll`; the chosen one is decoded once
and kept, so moving the drawing-step slider at an old training step costs no decoding.
"""

from __future__ import annotations

import bisect

import numpy as np

from drawstudio.events import Event
from drawstudio.train.history import HistoryChange, HistoryEntry
from drawstudio.train.snapshot import Snapshot

DECODED_KEPT = 8  # decoded snapshots remembered, so scrubbing back and forth does not decode again


class StepHistory:
    def __init__(self) -> None:
        self.entries: list[HistoryEntry] = []
        self.index: int | None = None  # None: live
        self.changed = Event("changed")  # () whenever the entries or the choice changed
        self._decoded: dict[int, Snapshot] = {}  # step → snapshot, oldest use first

    @property
    def steps(self) -> list[int]:
        return [entry.step for entry in self.entries]

    @property
    def live(self) -> bool:
        return self.index is None

    def clear(self) -> None:
        self.entries, self.index, self._decoded = [], None, {}
        self.changed.emit()

    def merge(self, change: HistoryChange) -> None:
        """Add new entries and drop thinned ones, keeping the chosen step chosen if it survives."""
        if not change.added and not change.removed:
            return
        chosen = None if self.index is None else self.entries[self.index].step
        gone = set(change.removed)
        kept = {e.step: e for e in self.entries if e.step not in gone}
        kept.update({e.step: e for e in change.added})
        self.entries = [kept[step] for step in sorted(kept)]
        for step in gone:
            self._decoded.pop(step, None)
        if chosen is not None:
            self.index = self.nearest(chosen)
        self.changed.emit()

    def nearest(self, step: int) -> int | None:
        """Index of the kept step closest to `step` (None when nothing is kept)."""
        if not self.entries:
            return None
        steps = self.steps
        right = bisect.bisect_left(steps, step)
        candidates = [i for i in (right - 1, right) if 0 <= i < len(steps)]
        return min(candidates, key=lambda i: abs(steps[i] - step))

    def select(self, index: int) -> None:
        index = min(max(0, int(index)), len(self.entries) - 1)
        if self.entries and index != self.index:
            self.index = index
            self.changed.emit()

    def go_live(self) -> None:
        if self.index is not None:
            self.index = None
            self.changed.emit()

    def selected(self) -> Snapshot | None:
        """The chosen kept snapshot, decoded (None when live)."""
        if self.index is None:
            return None
        entry = self.entries[self.index]
        snapshot = self._decoded.pop(entry.step, None) or entry.snapshot()
        self._decoded[entry.step] = snapshot  # re-inserted: now the most recently used
        while len(self._decoded) > DECODED_KEPT:
            del self._decoded[next(iter(self._decoded))]
        return snapshot

    def kl_matrix(self) -> np.ndarray:
        """(kept steps, T) KL per drawing step of the fixed batch, nats; NaN where T differs."""
        if not self.entries:
            return np.zeros((0, 0), np.float32)
        T = max(len(entry.kl_per_step) for entry in self.entries)
        matrix = np.full((len(self.entries), T), np.nan, np.float32)
        for row, entry in enumerate(self.entries):
            matrix[row, :len(entry.kl_per_step)] = entry.kl_per_step
        return matrix
