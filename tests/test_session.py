import time

from drawstudio.events import Event
from drawstudio.train.session import SNAPSHOT_COST_RATIO, TrainingSession

SNAPSHOT_SECONDS = 0.05
ONE_PROCESS = (1, 0)  # (ranks, threads): a fake trainer has no config for the ranks rule to look at


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
    session = TrainingSession(SlowSnapshotTrainer(), snapshot_interval=0.01, ranks=ONE_PROCESS)  # type: ignore[arg-type]
    taken: list[object] = []
    session.snapshot_ready.connect(taken.append)
    session.start()
    deadline = time.monotonic() + 10
    while not taken and time.monotonic() < deadline:
        time.sleep(0.01)
    session.stop()
    assert taken
    assert session.snapshot_wait >= SNAPSHOT_COST_RATIO * SNAPSHOT_SECONDS


class FakeClock:
    """time.monotonic for the session module: advances only when the fake trainer works."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class ClockedTrainer:
    """A Trainer stand-in whose steps take 1 s and snapshots 2 s of the fake clock."""

    def __init__(self, clock: FakeClock, steps: int) -> None:
        self.clock = clock
        self.events = Event("metrics")
        self.steps = steps
        self.step = 0
        self.snapshot_steps: list[int] = []

    @property
    def finished(self) -> bool:
        return self.step >= self.steps

    def advance(self) -> None:
        self.step += 1
        self.clock.now += 1.0

    def snapshot(self, *_: object) -> int:
        self.snapshot_steps.append(self.step)
        self.clock.now += 2.0
        return self.step

    def save_checkpoint(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_slow_snapshots_are_throttled_to_the_cost_ratio_over_a_run(monkeypatch):
    from drawstudio.train import session as session_module

    clock = FakeClock()
    monkeypatch.setattr(session_module, "time", clock)
    trainer = ClockedTrainer(clock, steps=200)
    session = TrainingSession(trainer, snapshot_interval=1.0, ranks=ONE_PROCESS)  # type: ignore[arg-type]
    taken: list[int] = []
    session.snapshot_ready.connect(taken.append)
    session.start()
    deadline = time.monotonic() + 30
    while session.state != "finished" and time.monotonic() < deadline:
        time.sleep(0.01)
    session.stop()
    # A snapshot costs 2 s, so the next starts 20·2 = 40 s after the last one started: the first
    # comes after step 1 (at 1 s), then one every 38 one-second steps (40 s minus its own 2 s),
    # and one more when the run finishes at step 200. Asked every 1 s it would be after every step.
    assert SNAPSHOT_COST_RATIO == 20
    assert taken == [1, 39, 77, 115, 153, 191, 200]


class RecordingTrainer(SlowSnapshotTrainer):
    """Notes which thread changes the schedule."""

    def __init__(self) -> None:
        super().__init__()
        self.changed_on: list[tuple[str, tuple]] = []

    def change_schedule(self, *values: object) -> None:
        import threading

        self.changed_on.append((threading.current_thread().name, values))


def test_a_schedule_change_is_a_command_the_training_thread_runs_and_a_bad_one_is_refused_at_once():
    import pytest

    from drawstudio.errors import ConfigError

    trainer = RecordingTrainer()
    session = TrainingSession(trainer, snapshot_interval=1e9, ranks=ONE_PROCESS)  # type: ignore[arg-type]
    session.start()
    session.change_schedule(3e-4, 0.5, 10)
    with pytest.raises(ConfigError, match="lr_decay=1.5"):
        session.change_schedule(decay=1.5)
    deadline = time.monotonic() + 10
    while not trainer.changed_on and time.monotonic() < deadline:
        time.sleep(0.01)
    session.stop()
    assert trainer.changed_on == [("drawstudio-training", (3e-4, 0.5, 10))]
