"""A shipped model opened read-only in the studio: the same events as a training session or
a followed run (state, metrics, snapshots, errors), so the studio shows it with the same
panes: the card's learning curve as metrics, and the model drawing test images and samples,
computed from the weights on a thread of its own so that the window never waits for it."""

from __future__ import annotations

import queue
import threading

from drawstudio.errors import DrawStudioError
from drawstudio.events import Event
from drawstudio.pretrained.catalog import Pretrained, find
from drawstudio.pretrained.loading import TrainedModel, open_pretrained
from drawstudio.train.run_state import RunState

_STOP = object()


class PretrainedViewer:
    def __init__(self, name: str, data_dir: str | None = None, snapshot_size: tuple[int, int] = (16, 16)):
        self.pretrained: Pretrained = find(name)
        self.data_dir = data_dir
        self.snapshot_size = snapshot_size
        self.state = RunState.STOPPED
        self.state_changed = Event("state_changed")
        self.metrics = Event("metrics")
        self.snapshot_ready = Event("snapshot_ready")
        self.error = Event("error")
        self.trainer: TrainedModel | None = None  # once loaded
        self.sample_labels: list[int] | None = None
        self._requests: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the model and draw, on a thread of its own."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="drawstudio-pretrained", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        self._requests.put(_STOP)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def set_sample_labels(self, labels: list[int] | None) -> None:
        """Draw these classes: the samples are drawn again."""
        self.sample_labels = labels
        if self.trainer is not None:  # before, the first drawing takes them
            self._requests.put(labels)

    def _run(self) -> None:
        self._set_state(RunState.WAITING)
        try:
            self.trainer = open_pretrained(self.pretrained.name, device="cpu", data_dir=self.data_dir,
                                           any_test_images=True)
            for record in self.curve():
                self.metrics.emit(record)
            self._draw()
            self._set_state(RunState.PRETRAINED)
            while self._requests.get() is not _STOP:
                if self._requests.empty():  # only the newest of several quick requests is drawn
                    self._draw()
        except DrawStudioError as error:
            self.error.emit(str(error))
            self._set_state(RunState.FAILED)
            return
        self._set_state(RunState.STOPPED)

    def curve(self) -> list[dict]:
        """The card's curve, ending with its full-test bound at the last step (a run that
        evaluated less often, or never, still shows where its training ended)."""
        records = list(self.pretrained.card.get("curve", []))
        final = self.pretrained.card.get("results", {}).get("test")
        tested = [r["step"] for r in records if r["kind"] == "eval" and r.get("split") == "test"]
        if final is not None and (not tested or tested[-1] < final["step"]):
            records.append({"kind": "eval", "split": "test", **final})
        return records

    def _draw(self) -> None:
        assert self.trainer is not None
        recon, samples = self.snapshot_size
        self.snapshot_ready.emit(self.trainer.snapshot(recon, samples, self.sample_labels))

    def _set_state(self, state: RunState) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
