"""Following a run another process writes, as values: which records and snapshots each poll
reports, which checkpoint the read-only trainer holds, and the states and errors it shows."""

import threading
import time

import pytest

from drawstudio.train.follow import RunFollower
from drawstudio.train.trainer import Trainer


@pytest.fixture
def writer(tiny_config, tmp_path):
    tiny_config.train.steps = 10
    trainer = Trainer(tiny_config, tmp_path / "run")
    yield trainer
    trainer.close()


def step_and_save(trainer: Trainer) -> None:
    trainer.advance()
    trainer.save_checkpoint()


def follower_of(run, **kwargs) -> tuple[RunFollower, dict[str, list]]:
    follower = RunFollower(run, **kwargs)
    seen: dict[str, list] = {"state": [], "metrics": [], "snapshot": [], "error": []}
    follower.state_changed.connect(seen["state"].append)
    follower.metrics.connect(seen["metrics"].append)
    follower.snapshot_ready.connect(seen["snapshot"].append)
    follower.error.connect(seen["error"].append)
    return follower, seen


def test_each_poll_reports_the_new_records_and_a_snapshot_of_each_newer_checkpoint(writer, mnist_dir):
    run = writer.run_dir
    step_and_save(writer)
    follower, seen = follower_of(run, snapshot_size=(2, 3), data_dir=str(mnist_dir))
    follower.poll()
    assert [(r["kind"], r["step"]) for r in seen["metrics"]] == [("train", 1), ("checkpoint", 1)]
    assert [s.step for s in seen["snapshot"]] == [1]
    assert seen["snapshot"][0].originals.shape[0] == 2 and seen["snapshot"][0].samples.shape[1] == 3
    assert follower.state == "following" and seen["state"] == ["following"]
    assert follower.trainer.step == 1 and follower.trainer.config.train.data_dir == str(mnist_dir)
    follower.poll()
    assert len(seen["metrics"]) == 2 and len(seen["snapshot"]) == 1  # nothing new
    step_and_save(writer)
    follower.poll()
    assert [(r["kind"], r["step"]) for r in seen["metrics"][2:]] == [("train", 2), ("checkpoint", 2)]
    assert [s.step for s in seen["snapshot"]] == [1, 2] and follower.trainer.step == 2
    assert seen["state"] == ["following"]


def test_new_sample_classes_redraw_the_newest_checkpoint_at_the_next_poll(writer):
    step_and_save(writer)
    follower, seen = follower_of(writer.run_dir)
    follower.poll()
    follower.set_sample_labels([3])
    assert follower.sample_labels == [3]
    follower.poll()
    assert [s.step for s in seen["snapshot"]] == [1, 1]
    assert seen["snapshot"][0].samples.shape[1] == 16  # the default size


def test_a_run_without_a_checkpoint_is_waited_for_and_stopping_ends_the_thread(writer):
    writer.advance()  # a record, no checkpoint yet
    follower, seen = follower_of(writer.run_dir, poll_seconds=0.01)
    assert follower.state == "stopped"
    follower.start()
    deadline = time.monotonic() + 20
    while not seen["metrics"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert follower.state == "waiting for a checkpoint" and seen["snapshot"] == []
    writer.save_checkpoint()
    while not seen["snapshot"] and time.monotonic() < deadline:
        time.sleep(0.01)
    follower.stop()
    assert seen["state"] == ["waiting for a checkpoint", "following", "stopped"]
    assert seen["error"] == []


def test_a_problem_is_reported_once_while_it_lasts(writer):
    step_and_save(writer)
    checkpoint = next((writer.run_dir / "checkpoints").iterdir())
    checkpoint.write_bytes(b"damaged")
    follower, seen = follower_of(writer.run_dir, poll_seconds=0.01)
    follower.start()
    time.sleep(0.3)  # many polls
    follower.stop()
    assert len(seen["error"]) == 1 and str(checkpoint) in seen["error"][0]
    assert seen["state"] == ["waiting for a checkpoint", "stopped"]


def test_the_follower_reads_the_data_folder_it_is_given_and_names_its_events(writer, mnist_dir, tmp_path):
    step_and_save(writer)
    link = tmp_path / "elsewhere"
    link.symlink_to(mnist_dir)
    follower, _ = follower_of(writer.run_dir, data_dir=str(link))
    assert follower.sample_labels is None
    follower.poll()
    assert follower.trainer.config.train.data_dir == str(link)
    assert [repr(e) for e in (follower.state_changed, follower.metrics, follower.snapshot_ready, follower.error)] == [
        "Event('state_changed', 1 connected)", "Event('metrics', 1 connected)",
        "Event('snapshot_ready', 1 connected)", "Event('error', 1 connected)"]


def test_the_follower_thread_is_named_and_does_not_keep_the_program_alive(writer):
    follower, _ = follower_of(writer.run_dir, poll_seconds=0.01)
    follower.stop()  # never started: nothing to stop
    follower.start()
    threads = [t for t in threading.enumerate() if t.name == "drawstudio-follower"]
    follower.stop()
    assert len(threads) == 1 and threads[0].daemon


def test_a_follower_polls_every_second_unless_told_otherwise(tmp_path):
    assert RunFollower(tmp_path).poll_seconds == 1.0


def test_the_follower_draws_the_classes_asked_for(tiny_config, tmp_path):
    tiny_config.model.num_classes = 10
    trainer = Trainer(tiny_config, tmp_path / "run")
    step_and_save(trainer)
    trainer.close()
    follower, seen = follower_of(tmp_path / "run", snapshot_size=(2, 2))
    follower.set_sample_labels([3, 3])
    follower.poll()
    assert seen["snapshot"][-1].sample_labels.tolist() == [3, 3]


def test_a_newer_checkpoint_the_follower_cannot_use_is_named_in_the_error(writer, tiny_config, tmp_path):
    import shutil

    from drawstudio.errors import CheckpointError

    step_and_save(writer)
    follower, _ = follower_of(writer.run_dir)
    follower.poll()
    tiny_config.model.z_size = 5
    other = Trainer(tiny_config, tmp_path / "other")
    other.save_checkpoint()
    other.close()
    newer = writer.run_dir / "checkpoints" / "step-000000009.pt"
    shutil.copy(tmp_path / "other" / "checkpoints" / "step-000000000.pt", newer)
    with pytest.raises(CheckpointError, match=f"^{newer}: checkpoint is for a different model"):
        follower.poll()


def test_a_follower_stopped_before_it_started_keeps_following_once_started(writer):
    follower, _ = follower_of(writer.run_dir, poll_seconds=0.01)
    follower.stop()
    follower.start()
    time.sleep(0.3)  # thirty polls: a thread told to stop earlier would have ended after the first
    alive = [t for t in threading.enumerate() if t.name == "drawstudio-follower"]
    follower.stop()
    assert len(alive) == 1 and follower.state == "stopped"
