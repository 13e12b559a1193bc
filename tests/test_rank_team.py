"""A studio's training on ranks (drawstudio/train/rank_team.py): the session's thread is rank 0
and worker processes the others, gathered while it runs, dissolved when it stops running, and
left behind, with a message, when one fails."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch.distributed as torch_dist

from drawstudio.train import session as session_module
from drawstudio.train.session import TrainingSession
from drawstudio.train.trainer import Trainer

TIMEOUT = 120.0
WORKER_MODULE = b"drawstudio.train.led_rank"


def workers() -> list[int]:
    """This process's worker processes still running."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or WORKER_MODULE not in (entry / "cmdline").read_bytes():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Watched:
    """A session on `ranks` and everything it reported."""

    started: list[Watched] = []  # stopped after each test, also a failed one

    def __init__(self, trainer: Trainer, ranks: tuple[int, int] | None):
        self.trainer = trainer
        self.session = TrainingSession(trainer, snapshot_interval=1e9, ranks=ranks)
        self.started.append(self)
        self.records: list[dict] = []
        self.errors: list[str] = []
        self.session.metrics.connect(self.records.append)
        self.session.error.connect(self.errors.append)

    def of_kind(self, kind: str) -> list[dict]:
        return [record for record in list(self.records) if record["kind"] == kind]

    def trained_on(self, ranks: int, after_step: int = 0) -> bool:
        return any(r["ranks"] == ranks and r["step"] > after_step for r in self.of_kind("train"))

    def stop(self) -> None:
        self.session.stop()
        assert not self.session.running


@pytest.fixture
def team_trainer(tiny_config, tmp_path, no_thread_left):
    tiny_config.train.log_every = 5
    trainer = Trainer(tiny_config, tmp_path / "run")
    yield trainer
    for pid in workers():  # a failed test's, which its session may be waiting for
        os.kill(pid, signal.SIGKILL)
    for watched in Watched.started:
        watched.session.stop()
    Watched.started.clear()
    trainer.close()


def test_the_rules_team_gathers_while_rank_0_trains_follows_its_rate_edits_and_leaves_with_equal_weights(
        team_trainer, monkeypatch):
    monkeypatch.setattr(session_module, "automatic", lambda config: (2, 1, ": the rule's reason"))
    watched = Watched(team_trainer, ranks=None)
    watched.session.start()
    wait_until(lambda: watched.of_kind("ranks"), "the team")
    joined = watched.of_kind("ranks")[0]
    assert joined["ranks"] == 2 and joined["threads"] == 1 and joined["why"] == "the rule's reason"
    assert joined["step"] > 0  # rank 0 did not wait for the worker to start
    wait_until(lambda: watched.trained_on(2, joined["step"]), "a step on 2 ranks")
    watched.session.change_schedule(lr=3e-2, decay=0.9, every=3)  # the worker must step with these rates
    edited = team_trainer.step
    watched.session.request_eval()
    wait_until(lambda: watched.of_kind("eval") and watched.trained_on(2, edited + 30), "steps after the edit")
    assert watched.of_kind("eval")[0]["images"] == 200
    watched.session.pause()
    wait_until(lambda: watched.session.state == "paused" and not workers(), "the worker to leave")
    assert not watched.errors  # among them, that the ranks' weights differ
    assert not torch_dist.is_initialized()

    paused_at = team_trainer.step
    watched.session.resume()  # gathers a new team
    wait_until(lambda: len(watched.of_kind("ranks")) == 2 and watched.trained_on(2, paused_at), "a second team")
    watched.stop()
    assert watched.session.state == "stopped" and not watched.errors
    assert watched.of_kind("checkpoint")[-1]["step"] == team_trainer.step
    assert not workers() and not torch_dist.is_initialized()


def test_a_worker_killed_mid_training_is_reported_and_rank_0_trains_on_alone(team_trainer):
    watched = Watched(team_trainer, ranks=(2, 1))
    watched.session.start()
    wait_until(lambda: watched.of_kind("ranks"), "the team")
    [worker] = workers()
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: watched.errors, "the failure to be reported")
    assert watched.errors[0].startswith("training on 2 ranks ended during ")
    assert "rank 1 of 2 failed (killed by signal 9)" in watched.errors[0]
    assert watched.errors[0].endswith("training goes on in this process alone")
    failed_at = team_trainer.step
    wait_until(lambda: watched.trained_on(1, failed_at), "a step in one process")
    assert watched.session.state == "running" and not workers()
    watched.stop()
    assert len(watched.errors) == 1  # no second team was gathered to fail again


def test_a_worker_that_cannot_load_the_data_is_reported_and_rank_0_trains_alone(team_trainer, tmp_path):
    team_trainer.config.train.data_dir = str(tmp_path / "moved")  # rank 0 holds its data; the worker looks here
    watched = Watched(team_trainer, ranks=(2, 1))
    watched.session.start()
    wait_until(lambda: watched.errors, "the failure to be reported")
    [error] = watched.errors
    assert error.startswith("rank 1 of 2 ended before joining (exit code 1: drawstudio rank 1: error: ")
    assert str(tmp_path / "moved") in error and error.endswith("training goes on in this process alone")
    reported_at = team_trainer.step
    wait_until(lambda: watched.trained_on(1, reported_at), "a step in one process")
    watched.stop()
    assert not watched.of_kind("ranks") and not workers()


def test_workers_that_cannot_be_started_are_reported_and_rank_0_trains_alone(team_trainer, tmp_path, monkeypatch):
    from drawstudio.train import rank_team

    monkeypatch.setattr(rank_team.sys, "executable", str(tmp_path / "no-python"))
    watched = Watched(team_trainer, ranks=(2, 1))
    watched.session.start()
    wait_until(lambda: watched.errors and team_trainer.step > 3, "the failure and steps after it")
    [error] = watched.errors
    assert error.startswith("could not start 1 worker process (") and "no-python" in error
    assert error.endswith("training goes on in this process alone")
    watched.stop()
    assert not watched.of_kind("ranks")


def test_an_error_of_rank_0_alone_mid_step_sends_the_workers_away_at_once_and_pauses_with_it(team_trainer):
    from drawstudio.errors import RunDirError

    watched = Watched(team_trainer, ranks=(2, 1))
    watched.session.start()
    wait_until(lambda: watched.of_kind("ranks"), "the team")
    objective = team_trainer.evaluation.objective  # inside the distributed wrapper

    def fail_once(*_args, **_kwargs):
        del objective.forward
        raise RunDirError("rank 0's own problem")  # while the worker waits in the gradients' averaging

    objective.forward = fail_once
    started = time.monotonic()
    wait_until(lambda: watched.session.state == "paused" and not workers(), "the pause")
    assert time.monotonic() - started < 30  # not the collectives' timeout
    assert watched.errors == ["rank 0's own problem"]
    watched.stop()
