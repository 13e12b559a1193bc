"""The training session's commands and states as values: what each command does to the
trainer and to the state, on which thread, and what it reports."""

import threading
import time
from types import SimpleNamespace

import pytest

from drawstudio.errors import ConfigError, NonFiniteError, RunDirError
from drawstudio.events import Event
from drawstudio.train.session import TrainingSession

ONE_PROCESS = (1, 0)  # (ranks, threads): a fake trainer has no config for the ranks rule to look at


class FakeTrainer:
    """A Trainer stand-in that notes every call; `errors` are raised by the next steps."""

    def __init__(self, steps: int = 10**9, errors: list[Exception] | None = None) -> None:
        self.config = SimpleNamespace(train=SimpleNamespace(steps=steps, eval_images=123))
        self.events = Event("metrics")
        self.step = 0
        self.errors = list(errors or [])
        self.calls: list[tuple] = []
        self.schedule_error: Exception | None = None

    @property
    def finished(self) -> bool:
        return self.step >= self.config.train.steps

    def advance(self) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.step += 1
        time.sleep(0.0005)

    def snapshot(self, recon: int, samples: int, labels: list[int] | None) -> tuple:
        self.calls.append(("snapshot", recon, samples, labels, self.step))
        return ("snapshot", self.step)

    def save_checkpoint(self) -> None:
        self.calls.append(("checkpoint", self.step))

    def evaluate(self, split: str, images: int) -> None:
        self.calls.append(("evaluate", split, images, threading.current_thread().name))

    def change_schedule(self, *values: object) -> None:
        if self.schedule_error is not None:
            raise self.schedule_error
        self.calls.append(("schedule", values))

    def close(self) -> None:
        self.calls.append(("close",))

    def named(self, name: str) -> list[tuple]:
        return [call for call in self.calls if call[0] == name]


def wait_until(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def assert_no_more_steps(trainer: FakeTrainer) -> None:
    reached = trainer.step
    time.sleep(0.05)
    assert trainer.step == reached


def session_for(trainer: FakeTrainer, **kwargs) -> tuple[TrainingSession, list, list, list]:
    kwargs.setdefault("ranks", ONE_PROCESS)  # a fake trainer has no config for the ranks rule
    session = TrainingSession(trainer, snapshot_interval=kwargs.pop("snapshot_interval", 1e9), **kwargs)  # type: ignore[arg-type]
    states: list[str] = []
    errors: list[str] = []
    snapshots: list[tuple] = []
    session.state_changed.connect(states.append)
    session.error.connect(errors.append)
    session.snapshot_ready.connect(snapshots.append)
    return session, states, errors, snapshots


def test_a_run_goes_running_then_finished_with_a_snapshot_at_the_start_and_at_the_end():
    trainer = FakeTrainer(steps=5)
    session, states, errors, snapshots = session_for(trainer, snapshot_size=(3, 7))
    assert session.state == "idle" and not session.running
    session.start()
    assert session.running
    wait_until(lambda: session.state == "finished" and len(snapshots) == 2)
    session.stop()
    assert states == ["running", "finished", "stopped"]
    assert trainer.step == 5 and errors == []
    assert snapshots[-1] == ("snapshot", 5)
    assert trainer.named("snapshot")[-1] == ("snapshot", 3, 7, None, 5)
    assert trainer.calls[-2:] == [("checkpoint", 5), ("close",)]
    assert not session.running


def running(trainer: "FakeTrainer", past: int):
    """A session of `trainer` started and past step `past`, and the states it went through."""
    session, states, _, _ = session_for(trainer)
    session.start()
    wait_until(lambda: trainer.step > past)
    return session, states


def comes_to_rest(session, trainer: "FakeTrainer") -> None:
    """The session reaches "paused" and its trainer takes no further step."""
    wait_until(lambda: session.state == "paused")
    assert_no_more_steps(trainer)


def test_pause_stops_the_steps_and_resume_continues_them():
    trainer = FakeTrainer()
    session, states = running(trainer, 3)
    session.pause()
    comes_to_rest(session, trainer)
    paused_at = trainer.step
    session.start()  # resumes when already started
    wait_until(lambda: trainer.step > paused_at + 3)
    session.stop()
    assert states == ["running", "paused", "running", "stopped"]


def test_a_single_step_takes_exactly_one_step_from_paused_and_shows_it():
    trainer = FakeTrainer()
    session, states, _, snapshots = session_for(trainer)
    session.step_once()
    wait_until(lambda: trainer.step == 1 and len(snapshots) >= 1)
    wait_until(lambda: snapshots[-1] == ("snapshot", 1))
    session.step_once()
    wait_until(lambda: trainer.step == 2 and snapshots[-1] == ("snapshot", 2))
    assert_no_more_steps(trainer)
    assert session.state == "paused"
    session.stop()
    assert states == ["paused", "stopped"]


def test_a_single_step_while_running_pauses_after_that_step():
    trainer = FakeTrainer()
    session, states = running(trainer, 2)
    session.step_once()
    comes_to_rest(session, trainer)
    session.stop()
    assert states == ["running", "paused", "stopped"]


@pytest.mark.parametrize("error", [NonFiniteError("loss is nan at step 3"), RunDirError("disk full at /r")])
def test_a_non_finite_loss_or_unwritable_run_says_why_before_it_pauses(error):
    trainer = FakeTrainer(errors=[error])
    session, states, errors, _ = session_for(trainer)
    errors_when_paused: list[list[str]] = []
    session.state_changed.connect(lambda state: errors_when_paused.append(list(errors)) if state == "paused" else None)
    session.start()
    wait_until(lambda: session.state == "paused")
    assert errors_when_paused == [[str(error)]] and trainer.step == 0
    session.resume()
    wait_until(lambda: trainer.step > 2)
    session.stop()
    assert states == ["running", "paused", "running", "stopped"]


def test_a_user_error_in_a_step_fails_the_run_with_its_message_and_closes_the_trainer():
    trainer = FakeTrainer(errors=[ConfigError("bad data at step 1")])
    session, states, errors, _ = session_for(trainer)
    session.start()
    wait_until(lambda: session.state == "failed" and not session.running)
    assert errors == ["bad data at step 1"]
    assert states == ["running", "failed"]
    assert trainer.calls[-1] == ("close",)


def test_a_bug_in_a_step_fails_the_run_and_reports_it_as_an_internal_error(monkeypatch):
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the thread re-raises the bug
    trainer = FakeTrainer(errors=[ValueError("boom")])
    session, states, errors, _ = session_for(trainer)
    session.start()
    wait_until(lambda: not session.running)
    assert errors == ["internal error: ValueError: boom"]
    assert states == ["running", "failed"]
    assert trainer.calls[-1] == ("close",)


def finished(trainer: "FakeTrainer"):
    """A session of `trainer` run to its end, and the states it went through."""
    session, states, _, _ = session_for(trainer)
    session.start()
    wait_until(lambda: session.state == "finished")
    return session, states


def test_extending_a_finished_run_pauses_it_and_resume_trains_to_the_new_end():
    trainer = FakeTrainer(steps=3)
    session, states = finished(trainer)
    session.extend(6)
    wait_until(lambda: session.state == "paused")
    assert trainer.config.train.steps == 6
    session.resume()
    wait_until(lambda: session.state == "finished")
    session.stop()
    assert trainer.step == 6
    assert states == ["running", "finished", "paused", "running", "finished", "stopped"]


def test_extending_a_run_that_is_still_short_of_its_end_keeps_its_state():
    trainer = FakeTrainer(steps=3)
    session, states, _, _ = session_for(trainer)
    session.extend(10)
    assert trainer.config.train.steps == 10 and session.state == "idle" and states == []


def test_extending_a_finished_run_to_a_step_it_has_reached_leaves_it_finished():
    trainer = FakeTrainer(steps=3)
    session, states = finished(trainer)
    session.extend(2)
    session.request_checkpoint()
    wait_until(lambda: trainer.named("checkpoint"))
    session.stop()
    assert states == ["running", "finished", "stopped"]


def test_moving_a_running_runs_end_to_the_step_it_has_reached_finishes_it():
    trainer = FakeTrainer()
    session, states, _, _ = session_for(trainer)
    session.start()
    wait_until(lambda: trainer.step > 5)
    session.pause()
    wait_until(lambda: session.state == "paused")
    session.resume()
    session.extend(trainer.step)  # the end where training stands, while it runs
    wait_until(lambda: session.state == "finished")
    session.stop()
    assert states[-2:] == ["finished", "stopped"]


def test_commands_before_the_start_apply_at_once_on_the_calling_thread():
    trainer = FakeTrainer()
    session, states, errors, _ = session_for(trainer)
    session.change_schedule(1e-3, 0.5, 7)
    session.request_checkpoint()
    session.request_eval()
    assert trainer.calls == [("schedule", (1e-3, 0.5, 7)), ("checkpoint", 0),
                             ("evaluate", "test", 123, threading.current_thread().name)]
    session.pause()  # nothing to pause
    assert session.state == "idle" and states == [] and errors == []


def test_a_user_error_in_a_command_is_reported_and_the_session_goes_on():
    trainer = FakeTrainer()
    trainer.schedule_error = ConfigError("lr too large for this run")
    session, _, errors, _ = session_for(trainer)
    session.change_schedule(lr=0.5)
    session.request_checkpoint()
    assert errors == ["lr too large for this run"]
    assert trainer.named("checkpoint") == [("checkpoint", 0)]


def test_evaluation_on_request_runs_on_the_training_thread_over_the_configured_images():
    trainer = FakeTrainer()
    session, _, _, _ = session_for(trainer)
    session.step_once()
    session.request_eval()
    wait_until(lambda: trainer.named("evaluate"))
    session.stop()
    assert trainer.named("evaluate") == [("evaluate", "test", 123, "drawstudio-training")]


def test_sample_labels_and_a_requested_snapshot_reach_the_next_snapshot_while_paused():
    trainer = FakeTrainer()
    session, _, _, snapshots = session_for(trainer, snapshot_size=(2, 4))
    session.step_once()
    wait_until(lambda: len(snapshots) >= 1)
    wait_until(lambda: trainer.step == 1)
    session.set_sample_labels([3, 1])
    wait_until(lambda: trainer.named("snapshot")[-1][3] == [3, 1])
    count = len(snapshots)
    session.request_snapshot()
    wait_until(lambda: len(snapshots) == count + 1)
    session.stop()
    assert session.sample_labels == [3, 1]
    assert trainer.named("snapshot")[-1] == ("snapshot", 2, 4, [3, 1], 1)


def test_snapshot_now_draws_on_the_calling_thread_only_before_the_start():
    trainer = FakeTrainer()
    session, _, _, _ = session_for(trainer, snapshot_size=(5, 6))
    session.set_sample_labels([2])
    assert session.snapshot_now() == ("snapshot", 0)
    assert trainer.named("snapshot") == [("snapshot", 5, 6, [2], 0)]
    session.step_once()
    with pytest.raises(RuntimeError, match="request_snapshot"):
        session.snapshot_now()
    session.stop()


def test_snapshots_while_running_come_at_the_interval_not_every_step():
    trainer = FakeTrainer()
    session, _, _, snapshots = session_for(trainer, snapshot_interval=0.05)
    session.start()
    wait_until(lambda: len(snapshots) >= 3)
    session.stop()
    steps = [step for _, step in snapshots]
    assert steps == sorted(steps) and steps[1] > steps[0] + 1  # some steps between snapshots


def test_the_default_snapshot_size_is_sixteen_reconstructions_and_sixteen_samples():
    trainer = FakeTrainer()
    session = TrainingSession(trainer, ranks=ONE_PROCESS)  # type: ignore[arg-type]
    session.snapshot_now()
    assert trainer.named("snapshot") == [("snapshot", 16, 16, None, 0)]
    assert session.snapshot_wait == 1.0


def test_the_session_reports_the_trainer_s_records_and_names_its_events():
    trainer = FakeTrainer()
    session, _, _, _ = session_for(trainer)
    records: list[dict] = []
    session.metrics.connect(records.append)
    trainer.events.emit({"kind": "train", "step": 1})
    assert records == [{"kind": "train", "step": 1}]
    assert [repr(e) for e in (session.state_changed, session.snapshot_ready, session.error)] == [
        "Event('state_changed', 1 connected)", "Event('snapshot_ready', 1 connected)", "Event('error', 1 connected)"]


@pytest.mark.parametrize("begin", ["start", "step_once"])
def test_the_training_thread_does_not_keep_the_program_alive(begin):
    session, _, _, _ = session_for(FakeTrainer())
    getattr(session, begin)()
    threads = [t for t in threading.enumerate() if t.name == "drawstudio-training"]
    session.stop()
    assert threads and all(t.daemon for t in threads)


def test_stopping_a_session_that_never_started_does_nothing():
    trainer = FakeTrainer()
    session, states, _, _ = session_for(trainer)
    session.stop()
    assert states == [] and trainer.calls == []


def test_snapshot_now_after_the_start_says_what_to_use_instead():
    session, _, _, _ = session_for(FakeTrainer())
    session.step_once()
    with pytest.raises(RuntimeError) as raised:
        session.snapshot_now()
    session.stop()
    assert str(raised.value) == "snapshot_now: the training thread owns the trainer; use request_snapshot"


def test_an_impossible_rate_or_period_is_refused_at_once():
    trainer = FakeTrainer()
    session, _, _, _ = session_for(trainer)
    with pytest.raises(ConfigError, match="lr=-1"):
        session.change_schedule(lr=-1.0)
    with pytest.raises(ConfigError, match="decay_every=0"):
        session.change_schedule(every=0)
    assert trainer.named("schedule") == []


class GatedTrainer(FakeTrainer):
    """Its first step waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.in_first_step = threading.Event()

    def advance(self) -> None:
        if self.step == 0:
            self.in_first_step.set()
            assert self.gate.wait(10)
        super().advance()


def test_single_steps_asked_for_during_a_step_are_each_taken():
    trainer = GatedTrainer()
    session, _, _, _ = session_for(trainer)
    session.step_once()
    assert trainer.in_first_step.wait(10)
    session.step_once()
    session.step_once()
    trainer.gate.set()
    wait_until(lambda: trainer.step == 3)
    assert_no_more_steps(trainer)
    session.stop()
