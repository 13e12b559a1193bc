"""The shown drawing step t (1..T), shared by the canvas and glimpse panes, and its playback.

Playback runs at `fps` drawing steps per second. A frame cap (set while training runs,
when every frame painted is CPU taken from training) lowers how often t changes, not the
speed: each frame then advances several steps.
"""

from __future__ import annotations

import math

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
        self.fps = 8.0
        self.max_frame_rate: float | None = None  # frames per second at most; None: one frame per step
        self._stride = 1  # drawing steps per frame
        self._follow_end = True  # stay on the finished drawing while new snapshots arrive
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._advance)
        self._pace()

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
        """Playback speed in drawing steps per second."""
        self.fps = fps
        self._pace()

    def set_max_frame_rate(self, rate: float | None) -> None:
        """Show at most `rate` frames per second (None: every step), keeping the speed."""
        self.max_frame_rate = rate
        self._pace()

    @property
    def stride(self) -> int:
        """Drawing steps each frame advances."""
        return self._stride

    def _pace(self) -> None:
        # the interval is exactly stride / fps, so the speed stays fps whatever the cap
        self._stride = max(1, math.ceil(self.fps / self.max_frame_rate)) if self.max_frame_rate else 1
        self._timer.setInterval(max(1, round(1000 * self._stride / self.fps)))

    def _advance(self) -> None:
        if self.t < self.T:
            self.set_t(min(self.t + self._stride, self.T))  # the finished drawing is always shown
        elif self.loop:
            self.set_t(1)
        else:
            self.set_playing(False)
