"""A minimal event: callbacks connected to it run when it is emitted.

The engine reports through these from its training thread and imports no Qt; the studio
connects callbacks that re-emit as queued Qt signals, so widgets are touched only on the
GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol


class Event:
    def __init__(self, name: str):
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []
        self._lock = threading.Lock()

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        with self._lock:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        with self._lock:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(*args)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self._callbacks)} connected)"


class EventSource(Protocol):
    """What the studio can watch: a live training session or a followed run."""

    state_changed: Event
    metrics: Event
    snapshot_ready: Event
    error: Event
