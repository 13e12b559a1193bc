"""The shown drawing step t (1..T), shared by the canvas and glimpse panes, and its playback."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal


class Timeline(QObject):
    changed = Signal(int)  # the new t, 1-based
    length_changed = Signal(int)  # the new T
    playing_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.t = 1
        self.T = 1
        self.loop = True
        self._follow_end = True  # stay on the finished drawing while new snapshots arrive
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._advance)
        self.set_fps(8.0)

    def set_length(self, T: int) -> None:
        if T == self.T:
            return
        self.T = max(1, T)
        self.length_changed.emit(self.T)
        self.set_t(self.T if self._follow_end else min(self.t, self.T))

    def set_t(self, t: int) -> None:
        t = min(max(1, int(t)), self.T)
        self._follow_end = t == self.T
        if t != self.t:
            self.t = t
            self.changed.emit(t)

    def step(self, delta: int) -> None:
        self.set_t(self.t + delta)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_playing(self, playing: bool) -> None:
        if playing == self.playing:
            return
        if playing:
            if self.t == self.T:
                self.set_t(1)
            self._timer.start()
        else:
            self._timer.stop()
        self.playing_changed.emit(playing)

    def set_fps(self, fps: float) -> None:
        self._timer.setInterval(max(1, round(1000 / fps)))

    def _advance(self) -> None:
        if self.t < self.T:
            self.set_t(self.t + 1)
        elif self.loop:
            self.set_t(1)
        else:
            self.set_playing(False)
