"""Measuring how long the GUI event loop goes unserved: a heartbeat timer that notes the
longest gap between its ticks beyond its own interval."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class StallMeter(QObject):
    def __init__(self, interval_ms: int = 10, parent: QObject | None = None):
        super().__init__(parent)
        self.interval = interval_ms / 1000
        self.max_stall = 0.0  # seconds
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.max_stall = 0.0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.max_stall = max(self.max_stall, now - self._last - self.interval)
        self._last = now

    @property
    def max_stall_ms(self) -> float:
        return self.max_stall * 1000
