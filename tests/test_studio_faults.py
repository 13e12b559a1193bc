"""Faults while the studio trains: the disk fills or turns read-only at an autosave, the run
directory is deleted, the dataset's files are removed. The window says so, training pauses with
its progress kept in memory, the last good checkpoint stays intact, and the window stays usable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from disk_faults import FAULTS, inject

from drawstudio.system.atomic import leftover_temp_files
from drawstudio.train import checkpoint as ckpt
from drawstudio.train import session as states
from drawstudio.train.runs import load_run_config

pytestmark = pytest.mark.usefixtures("no_thread_left")
WAIT_MS = 30_000


@pytest.fixture
def autosaving_config(run_kind_template):
    """The tiny unconditional run's settings, checkpointing after every step, for 10,000 steps."""
    config = load_run_config(run_kind_template("unconditional"))
    config.train.autosave_seconds = 1e-9
    config.train.steps = 10_000
    return config


def start_training(studio, qtbot, run: Path, config, steps: int = 3) -> None:
    assert studio.open_run(run, config), studio.last_error
    studio.toggle_training()
    qtbot.waitUntil(lambda: len(ckpt.list_checkpoints(run)) >= 1 and studio.run.session.trainer.step >= steps,
                    timeout=WAIT_MS)


def pause(studio, qtbot) -> None:
    """Faults are brought in while paused, between two autosaves, so that the first save to meet
    one is a whole save (not the end of a save already under way)."""
    studio.toggle_training()
    qtbot.waitUntil(lambda: studio.state == states.PAUSED, timeout=WAIT_MS)


def resume_until_it_fails(studio, qtbot) -> None:
    studio.toggle_training()
    qtbot.waitUntil(lambda: "could not save" in studio.last_error, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: studio.state == states.PAUSED, timeout=WAIT_MS)


def newest_checkpoint_step(run: Path) -> int:
    return int(ckpt.load_checkpoint(ckpt.list_checkpoints(run)[0])["step"])


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_autosave_pauses_with_a_message_and_training_goes_on_once_the_disk_is_back(
        fault, studio, qtbot, tmp_path, autosaving_config, monkeypatch):
    run = tmp_path / "run"
    start_training(studio, qtbot, run, autosaving_config)
    pause(studio, qtbot)
    calls = inject(monkeypatch, fault)
    resume_until_it_fails(studio, qtbot)
    monkeypatch.undo()
    trainer = studio.run.session.trainer
    assert calls == [1]
    # the first write to meet the fault says so: the autosave's, or the history's at a step it keeps
    assert "could not save" in studio.last_error and f"({FAULTS[fault]})" in studio.last_error
    assert FAULTS[fault] in studio.statusBar().currentMessage()
    # the step whose autosave failed is in memory; the one before it is the newest on disk
    assert newest_checkpoint_step(run) == trainer.step - 1
    assert leftover_temp_files(ckpt.checkpoint_dir(run)) == []

    paused_at = trainer.step
    studio.toggle_training()
    qtbot.waitUntil(lambda: newest_checkpoint_step(run) > paused_at, timeout=WAIT_MS)
    assert studio.state == states.RUNNING


def test_a_deleted_run_directory_pauses_with_a_message_and_another_run_opens(
        studio, qtbot, tmp_path, autosaving_config):
    run = tmp_path / "run"
    start_training(studio, qtbot, run, autosaving_config)
    pause(studio, qtbot)
    shutil.rmtree(run)
    resume_until_it_fails(studio, qtbot)
    # the first write after the deletion says so, a checkpoint's or the history's
    assert f"{run}: could not save" in studio.last_error and "(the run directory is gone)" in studio.last_error
    assert not run.exists()  # not brought back holding checkpoints without their config

    autosaving_config.train.steps = 2
    assert studio.open_run(tmp_path / "another", autosaving_config), studio.last_error
    studio.toggle_training()
    qtbot.waitUntil(lambda: studio.state == states.FINISHED, timeout=WAIT_MS)
    assert newest_checkpoint_step(tmp_path / "another") == 2


def test_removed_dataset_files_do_not_stop_training_and_reopening_says_they_are_missing(
        studio, qtbot, tmp_path, run_kind_data, autosaving_config):
    data = Path(shutil.copytree(run_kind_data / "mnist", tmp_path / "mnist"))
    autosaving_config.train.data_dir = str(data)
    run = tmp_path / "run"
    start_training(studio, qtbot, run, autosaving_config)
    shutil.rmtree(data)
    moved_on = studio.run.session.trainer.step + 3
    qtbot.waitUntil(lambda: newest_checkpoint_step(run) >= moved_on, timeout=WAIT_MS)  # the images are in memory
    assert studio.last_error == ""

    studio.close_run()
    assert newest_checkpoint_step(run) >= moved_on
    assert not studio.open_run(run)
    assert "MNIST not found" in studio.last_error and studio.state == "no run"
    assert studio.open_run(run, data_dir=str(run_kind_data / "mnist")), studio.last_error
    assert studio.run.session.trainer.step == newest_checkpoint_step(run)
