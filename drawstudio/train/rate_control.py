"""The run's learning rate over time: the schedule's segments, the changes other threads
queue for the next step, and the plateau rule that lowers the rate when the held-out bound
stalls. Every change becomes a "schedule" record for metrics.jsonl; the plateau rule's
carry `"rule": "plateau"` and the bound they reacted to.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from drawstudio.config import TrainConfig
from drawstudio.errors import ConfigError
from drawstudio.train import schedule


class RateControl:
    def __init__(self, train: TrainConfig):
        self.train = train  # read at every evaluation, so a resumed run's new plateau settings apply
        self.segments = [schedule.Segment(0, train.lr, train.lr_decay, train.decay_every)]
        self.plateau = schedule.Plateau()
        self._pending: list[dict[str, Any]] = []
        self._pending_lock = threading.Lock()

    def lr(self, step: int) -> float:
        return schedule.learning_rate(step, self.segments)

    def request(self, lr: float | None = None, decay: float | None = None, every: int | None = None) -> None:
        """Queue a change for the next step (safe from any thread); refuse an impossible value now."""
        if lr is not None and not (math.isfinite(lr) and lr > 0):
            raise ConfigError(f"lr={lr!r} must be a positive number")
        if decay is not None and not (math.isfinite(decay) and 0 < decay <= 1):
            raise ConfigError(f"lr_decay={decay!r} must be in (0, 1]")
        if every is not None and every < 1:
            raise ConfigError(f"decay_every={every!r} must be at least 1")
        with self._pending_lock:
            self._pending.append({"lr": lr, "decay": decay, "every": every})

    def apply_requests(self, step: int) -> list[dict[str, Any]]:
        """Apply the queued changes at `step`; → their records."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        return [self._change(step, **change) for change in pending]

    def observe(self, step: int, split: str, bound: float) -> dict[str, Any] | None:
        """Feed the plateau rule an evaluation of the held-out bound; → the record of the
        lowering it made, or None."""
        self.plateau, lower = schedule.plateau_step(self.plateau, bound, self.train.plateau_patience)
        if not lower:
            return None
        record = self._change(step, lr=self.lr(step) * self.train.plateau_factor)
        record.update(rule="plateau", split=split, best=self.plateau.best)
        return record

    def _change(self, step: int, **values: Any) -> dict[str, Any]:
        self.segments = schedule.change(self.segments, step, **values)
        current = self.segments[-1]
        return {"kind": "schedule", "step": step, "lr": current.lr, "decay": current.decay, "every": current.every}

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": schedule.to_list(self.segments),
                "plateau": {"best": self.plateau.best, "stale": self.plateau.stale}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """From a checkpoint's "schedule" and (when present: older checkpoints lack it) "plateau"."""
        self.segments = schedule.from_list(state["schedule"])
        stored = state.get("plateau")
        self.plateau = schedule.Plateau() if stored is None else schedule.Plateau(float(stored["best"]),
                                                                                   int(stored["stale"]))
