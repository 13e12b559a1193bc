"""The curves' data: metrics records folded into growing numpy columns (no Qt).

Fed from metrics.jsonl on opening a run and then record by record as training (or the
followed process) writes them. A "resume" record drops what came after its step, as
`drawstudio.train.metrics.drop_replayed` does for a whole file, so steps lost to a kill
and trained again are not drawn twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

TRAIN_FIELDS = ("step", "loss", "recon", "kl", "lr", "images_per_s", "elapsed", "epoch")


class Column:
    """An append-only float64 array with amortised O(1) appends and O(1) views."""

    def __init__(self) -> None:
        self._data = np.empty(256)
        self._size = 0

    def append(self, value: float) -> None:
        if self._size == len(self._data):
            self._data = np.concatenate([self._data, np.empty(len(self._data))])
        self._data[self._size] = value
        self._size += 1

    def truncate(self, size: int) -> None:
        self._size = min(self._size, size)

    @property
    def values(self) -> np.ndarray:
        return self._data[:self._size]

    def __len__(self) -> int:
        return self._size


class MetricsHistory:
    def __init__(self) -> None:
        self.revision = 0  # bumped on every change, so views redraw only when it moved
        self.clear()

    def clear(self) -> None:
        self.train = {name: Column() for name in TRAIN_FIELDS}
        self.eval_step = Column()
        self.eval_nll = Column()
        self.eval_lr = Column()  # the rate at each evaluation: a trained model's only record of it
        self.schedule_changes: list[dict[str, Any]] = []  # "schedule" records, oldest first
        self.schedule_records: list[dict[str, Any]] = []  # the same, and "resume" records restoring a schedule
        self.plateau_stale: int | None = None  # held-out evaluations without a new best, as last recorded
        self.last_train: dict[str, Any] | None = None
        self.revision += 1

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "train":
            for name, column in self.train.items():
                column.append(float(record.get(name, np.nan)))
            self.last_train = record
        elif kind == "eval":
            if "plateau_stale" in record:
                self.plateau_stale = int(record["plateau_stale"])
            if record.get("split", "test") != "test":
                return
            self.eval_step.append(record["step"])
            self.eval_nll.append(record["nll"])
            self.eval_lr.append(float(record.get("lr", np.nan)))
        elif kind == "schedule":
            self.schedule_changes.append(record)
            self.schedule_records.append(record)
        elif kind == "resume":
            self._drop_after(int(record.get("step", 0)))
            if "schedule" in record:
                self.schedule_records.append(record)
        else:
            return
        self.revision += 1

    def _drop_after(self, step: int) -> None:
        keep = int(np.searchsorted(self.train["step"].values, step, side="right"))
        for column in self.train.values():
            column.truncate(keep)
        keep_eval = int(np.searchsorted(self.eval_step.values, step, side="right"))
        self.eval_step.truncate(keep_eval)
        self.eval_nll.truncate(keep_eval)
        self.eval_lr.truncate(keep_eval)

    @property
    def step(self) -> int:
        """The step the run has reached, as far as its records tell (a trained model's curve has
        evaluations only)."""
        trained = int(self.last_train["step"]) if self.last_train is not None else 0
        return max(trained, int(self.eval_step.values[-1])) if len(self.eval_step) else trained

    @property
    def steps(self) -> np.ndarray:
        return self.train["step"].values

    def __len__(self) -> int:
        return len(self.train["step"])


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` points (fewer at the start); NaNs count as gaps."""
    if window <= 1 or len(values) == 0:
        return values
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    upper = np.arange(1, len(values) + 1)
    lower = np.maximum(upper - window, 0)
    n = counts[upper] - counts[lower]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[upper] - sums[lower]) / np.maximum(n, 1), np.nan)
