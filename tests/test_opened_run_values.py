"""What the window opens, as values: a new or reopened run to train (whose stored config wins
but for where its data is and where it trains), or a run to follow; and closing either."""

import dataclasses
import json

import pytest

from drawstudio.errors import RunDirError
from drawstudio.train import opened_run as opened_module
from drawstudio.train.opened_run import open_following, open_training


def test_a_new_run_is_opened_for_training_with_an_idle_session(tiny_config, tmp_path):
    run = tmp_path / "run"
    opened = open_training(run, tiny_config, snapshot_interval=0.5)
    try:
        assert not opened.read_only and opened.follower is None and opened.source is opened.session
        assert opened.session.snapshot_interval == 0.5 and opened.session.state == "idle"
        assert opened.config is tiny_config and opened.history == [] and opened.classes is None
        assert opened.device.startswith("cpu (") and opened.tensorboard is None
        assert json.loads((run / "config.json").read_text())["model"]["T"] == 4
    finally:
        opened.close()


def test_a_reopened_run_keeps_its_config_but_takes_the_data_folder_and_device_asked_for(tiny_config, tmp_path,
                                                                                       mnist_dir):
    run = tmp_path / "run"
    first = open_training(run, tiny_config)
    first.session.trainer.advance()
    first.session.trainer.save_checkpoint()
    first.close()
    other = dataclasses.replace(tiny_config, train=dataclasses.replace(tiny_config.train, batch_size=8,
                                                                        device="cpu", data_dir="/elsewhere"))
    reopened = open_training(run, other, data_dir=str(mnist_dir))
    try:
        train = reopened.config.train
        assert (train.batch_size, train.device, train.data_dir) == (16, "cpu", str(mnist_dir))
        assert reopened.session.trainer.step == 1
        assert [(r["kind"], r["step"]) for r in reopened.history][:2] == [("train", 1), ("checkpoint", 1)]
    finally:
        reopened.close()
    again = open_training(run)  # no dialog: the stored config as it is
    try:
        assert again.config.train.device == "cpu" and again.config.train.data_dir == str(mnist_dir)
    finally:
        again.close()


def test_a_folder_that_is_not_a_run_is_refused_when_there_is_no_config_for_a_new_one(tmp_path):
    with pytest.raises(RunDirError, match="not a run directory"):
        open_training(tmp_path)


def test_a_conditional_run_names_its_classes(tiny_config, tmp_path):
    tiny_config.model.num_classes = 10
    opened = open_training(tmp_path / "run", tiny_config)
    try:
        assert opened.classes == [str(k) for k in range(10)]
    finally:
        opened.close()
    tiny_config.train.device = "cpu"
    (tmp_path / "other").mkdir()
    tiny_config.save(tmp_path / "other" / "config.json")
    followed = open_following(tmp_path / "other", poll_seconds=0.25)
    assert followed.classes == [str(k) for k in range(10)]
    assert followed.device == "followed run (cpu there)"


def test_a_followed_run_is_read_only_and_polls_at_the_asked_interval(tiny_config, tmp_path):
    tiny_config.save(tmp_path / "config.json")
    followed = open_following(tmp_path, poll_seconds=0.25)
    assert followed.read_only and followed.session is None and followed.source is followed.follower
    assert followed.follower.poll_seconds == 0.25 and followed.classes is None
    assert followed.device == "followed run (auto there)"
    followed.start_source()
    assert followed.follower._thread is not None
    followed.set_sample_labels([1, 2])
    assert followed.follower.sample_labels == [1, 2]
    followed.close()
    assert not followed.follower._thread.is_alive()


def test_sample_classes_go_to_the_training_session(tiny_config, tmp_path):
    opened = open_training(tmp_path / "run", tiny_config)
    opened.start_source()  # training waits for the user
    assert not opened.session.running
    opened.set_sample_labels([4])
    assert opened.session.sample_labels == [4]
    opened.close()


def test_closing_a_run_that_trains_stops_it_with_a_checkpoint(tiny_config, tmp_path):
    opened = open_training(tmp_path / "run", tiny_config)
    opened.session.step_once()
    opened.close()
    assert not opened.session.running and opened.session.state == "stopped"
    assert (tmp_path / "run" / "checkpoints").is_dir() and any((tmp_path / "run" / "checkpoints").iterdir())


def test_closing_an_untrained_run_closes_its_trainer(tiny_config, tmp_path, monkeypatch):
    opened = open_training(tmp_path / "run", tiny_config)
    closed = []
    monkeypatch.setattr(opened.session.trainer, "close", lambda: closed.append(True))
    opened.close()
    assert closed == [True]


def test_a_run_that_asks_for_tensorboard_logs_needs_the_package(tiny_config, tmp_path, monkeypatch):
    tiny_config.train.tensorboard = "tb"
    monkeypatch.setattr(opened_module, "require_tensorboard", lambda: (_ for _ in ()).throw(RuntimeError("no tb")))
    with pytest.raises(RuntimeError, match="no tb"):
        open_training(tmp_path / "run", tiny_config)


def test_an_opened_run_knows_its_folder_and_config_and_polls_or_snapshots_at_the_usual_pace(tiny_config, tmp_path):
    run = tmp_path / "run"
    opened = open_training(run, tiny_config)
    try:
        assert opened.run_dir == run and opened.session.snapshot_interval == 2.0
    finally:
        opened.close()
    followed = open_following(run)
    assert followed.run_dir == run and followed.follower.poll_seconds == 1.0
    assert followed.config.model == tiny_config.model and followed.config.train.steps == tiny_config.train.steps


def test_a_run_that_asks_for_tensorboard_logs_gets_them(tiny_config, tmp_path):
    tiny_config.train.tensorboard = "tb"
    opened = open_training(tmp_path / "run", tiny_config)
    try:
        assert opened.tensorboard is not None
    finally:
        opened.close()
    assert (tmp_path / "run" / "tb").is_dir()


def test_a_conditional_run_on_named_classes_shows_their_names(tmp_path, tiny_config):
    from PIL import Image

    for name in ("cat", "dog"):
        for i in range(3):
            (tmp_path / "pets" / name).mkdir(parents=True, exist_ok=True)
            Image.new("L", (28, 28), 40 * i).save(tmp_path / "pets" / name / f"{i}.png")
    tiny_config.train.dataset = str(tmp_path / "pets")
    tiny_config.train.batch_size = 2
    tiny_config.model.num_classes = 2
    opened = open_training(tmp_path / "run", tiny_config)
    try:
        assert opened.classes == ["cat", "dog"]
    finally:
        opened.close()
