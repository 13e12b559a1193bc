import time

from drawstudio.events import Event
from drawstudio.train.session import SNAPSHOT_COST_RATIO, TrainingSession

SNAPSHOT_SECONDS = 0.05


class SlowSnapshotTrainer:
    """Just enough of a Trainer for a session: instant steps, slow snapshots."""

    def __init__(self) -> None:
        self.events = Event("metrics")
        self.finished = False
        self.steps = 0

    def advance(self) -> None:
        self.steps += 1
        time.sleep(0.001)

    def snapshot(self, *_: object) -> object:
        time.sleep(SNAPSHOT_SECONDS)
        return object()

    def save_checkpoint(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_slow_snapshots_are_taken_less_often_than_asked_so_training_keeps_its_time():
    session = TrainingSession(SlowSnapshotTrainer(), snapshot_interval=0.01)  # type: ignore[arg-type]
    taken: list[object] = []
    session.snapshot_ready.connect(taken.append)
    session.start()
    deadline = time.monotonic() + 10
    while not taken and time.monotonic() < deadline:
        time.sleep(0.01)
    session.stop()
    assert taken
    assert session.snapshot_wait >= SNAPSHOT_COST_RATIO * SNAPSHOT_SECONDS
