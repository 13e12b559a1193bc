"""Following a run that another process writes (a headless or distributed training, perhaps
on another machine with the directory synced), read-only.

A background thread polls `metrics.jsonl` for appended lines and the checkpoint folder
for a newer file; when one appears it loads it into a read-only trainer and computes a
snapshot from it, so the GUI thread never reads checkpoints or runs the model. Events
mirror `TrainingSession`'s, so the studio shows a followed run with the same views.
"""

from __future__ import annotations

import threading
from pathlib import Path

from drawstudio.errors import DrawStudioError
from drawstudio.events import Event
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import MetricsFollower
from drawstudio.train.run_state import RunState
from drawstudio.train.runs import open_run
from drawstudio.train.trainer import Trainer

FOLLOWING, WAITING, STOPPED = RunState.FOLLOWING, RunState.WAITING, RunState.STOPPED


class RunFollower:
    def __init__(self, run_dir: Path, poll_seconds: float = 1.0, snapshot_size: tuple[int, int] = (16, 16),
                 data_dir: str | None = None):
        self.run_dir = Path(run_dir)
        self.poll_seconds = poll_seconds
        self.snapshot_size = snapshot_size
        self.data_dir = data_dir
        self.state = STOPPED
        self.state_changed = Event("state_changed")
        self.metrics = Event("metrics")
        self.snapshot_ready = Event("snapshot_ready")
        self.error = Event("error")
        self.trainer: Trainer | None = None  # read-only, at the newest checkpoint loaded
        self.sample_labels: list[int] | None = None
        self._records = MetricsFollower(self.run_dir / "metrics.jsonl")
        self._loaded: Path | None = None
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Follow the run from a thread of its own; again after a `stop` (one made before any
        start would otherwise end the new thread after its first look)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="drawstudio-follower", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def set_sample_labels(self, labels: list[int] | None) -> None:
        """Draw these classes from now on; the newest checkpoint is sampled again at the next poll."""
        self.sample_labels = labels
        self._loaded = None

    def _run(self) -> None:
        self._set_state(WAITING)
        while True:
            try:
                self.poll()
                self._last_error = None
            except DrawStudioError as error:
                if str(error) != self._last_error:  # say it once, not every poll
                    self._last_error = str(error)
                    self.error.emit(str(error))
            if self._stop.wait(self.poll_seconds):
                break
        self._set_state(STOPPED)

    def poll(self) -> None:
        """One look at the run: new metrics lines, then a newer checkpoint if there is one."""
        for record in self._records.poll():
            self.metrics.emit(record)
        newest = ckpt.list_checkpoints(self.run_dir)
        if newest and newest[0] != self._loaded:
            self._load_newest()

    def _load_newest(self) -> None:
        if self.trainer is None:
            # the CPU: the run may come from a GPU server and this machine may have none
            self.trainer = open_run(self.run_dir, device="cpu", data_dir=self.data_dir)
            path = self.trainer.resumed_from
        else:
            found = ckpt.newest_loadable(self.run_dir, self.trainer.device)
            if found is None:
                return
            path, state, _ = found
            self.trainer.load_state(path, state)
        self._loaded = path
        recon, samples = self.snapshot_size
        self.snapshot_ready.emit(self.trainer.snapshot(recon, samples, self.sample_labels))
        self._set_state(FOLLOWING)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
