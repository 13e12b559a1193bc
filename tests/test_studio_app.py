"""Starting the studio from the command line, stopping it by signal, and the setup dialog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drawstudio.data import DatasetInfo
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics
from drawstudio.train.presets import PRESETS

REPO = Path(__file__).resolve().parents[1]


def test_sigterm_stops_autostarted_training_with_a_checkpoint(tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tiny_config.save(run_dir / "config.json")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    studio = subprocess.Popen([sys.executable, "main.py", "--run", str(run_dir), "--autostart"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while sum(r["kind"] == "train" for r in read_metrics(run_dir / "metrics.jsonl")) < 3:
            assert studio.poll() is None, studio.stdout.read().decode()
            assert time.monotonic() < deadline, "the studio did not start training"
            time.sleep(0.2)
        studio.send_signal(signal.SIGTERM)
        assert studio.wait(timeout=60) == 0
    finally:
        studio.kill()
    saved = ckpt.list_checkpoints(run_dir)
    assert saved, "no checkpoint written on SIGTERM"
    assert int(saved[0].stem.split("-")[1]) >= 3


def test_autostart_resumes_an_existing_run(studio, qtbot, tmp_path, tiny_config):
    from drawstudio.studio.app import build_parser, open_from_args

    run_dir = tmp_path / "run"
    assert studio.open_run(run_dir, tiny_config)
    studio.run.session.step_once()
    qtbot.waitUntil(lambda: studio.run.session.trainer.step == 1, timeout=30_000)
    studio.close_run()
    open_from_args(studio, build_parser().parse_args(["--run", str(run_dir), "--autostart"]))
    trainer = studio.run.session.trainer
    assert trainer.resumed_from is not None
    qtbot.waitUntil(lambda: trainer.step > 3, timeout=30_000)


def test_new_run_defaults_to_the_first_preferred_dataset_present():
    from drawstudio.studio.new_run import default_dataset

    def info(name: str, present: bool) -> DatasetInfo:
        return DatasetInfo(name, None, present, True, "")

    infos = [info("mnist", True), info("fashion-mnist", False), info("binarized-mnist", True)]
    assert default_dataset(infos) == "mnist"
    infos[1] = info("fashion-mnist", True)
    assert default_dataset(infos) == "fashion-mnist"


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_explains_an_impossible_model_and_refuses_it(qtbot, mnist_dir):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    assert dialog.dataset.currentData() == "mnist"
    assert dialog.create.isEnabled(), dialog.problem.text()
    dialog.ints["write_n"].setValue(40)
    assert "write_n" in dialog.problem.text() and "28x28" in dialog.problem.text()
    assert not dialog.create.isEnabled()
    dialog.ints["write_n"].setValue(5)
    dialog.conditional.setChecked(True)
    config = dialog.config()
    config.validate()
    assert (config.train.dataset, config.model.num_classes, config.train.data_dir) == ("mnist", 10, str(mnist_dir))
    assert dialog.chosen_run_dir().name.startswith("mnist-")


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_turns_weight_averaging_on_and_keeps_it_across_a_preset(qtbot, mnist_dir):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    assert dialog.config().train.ema_decay == 0.0
    dialog.ema_decay.setValue(0.999)
    assert dialog.config().train.ema_decay == 0.999
    dialog.choose_preset("mnist-attention")  # a preset sets the rest, over the current settings
    assert dialog.ema_decay.value() == 0.999 and dialog.config().train.ema_decay == 0.999


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_offers_download_only_for_a_missing_dataset_when_online(qtbot, tmp_path, no_default_data):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(tmp_path / "empty"), check_online=False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert "not on this machine" in dialog.problem.text()
    assert dialog.downloads.download.isVisible() and not dialog.downloads.download.isEnabled()
    dialog.downloads.set_online(True)
    assert dialog.downloads.download.isEnabled()


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_preset_fills_the_papers_settings_and_stays_editable(qtbot, mnist_dir):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentIndex(dialog.preset.findData("mnist-attention"))
    dialog.preset.activated.emit(dialog.preset.currentIndex())  # as when the user picks it
    config = dialog.config()
    model = config.model
    assert (model.T, model.read_n, model.write_n, model.enc_size, model.dec_size, model.z_size, model.attention) \
        == (64, 2, 5, 256, 256, 100, True)
    assert (config.train.dataset, config.train.binarize, config.train.data_dir) == ("binarized-mnist", "none",
                                                                                     str(mnist_dir))
    assert "Table 3" in dialog.preset_note.text() and "Edited" not in dialog.preset_note.text()
    dialog.ints["T"].setValue(16)
    assert dialog.config().model.T == 16 and "Edited" in dialog.preset_note.text()


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_shows_a_presets_gradient_clip_and_the_next_preset_replaces_it(qtbot, mnist_dir):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    default_clip = dialog.config().train.grad_clip
    dialog.choose_preset("mnist-attention")
    assert dialog.grad_clip.value() == dialog.config().train.grad_clip == PRESETS["mnist-attention"]["train"][
        "grad_clip"] != default_clip
    assert "Edited" not in dialog.preset_note.text()
    dialog.choose_preset("mnist-no-attention")
    assert dialog.config().train.grad_clip == default_clip
    dialog.grad_clip.setValue(0.0)  # no clipping
    assert dialog.config().train.grad_clip == 0.0 and "Edited" in dialog.preset_note.text()


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_carries_the_presets_attention_start_it_has_no_field_for(qtbot, mnist_dir):
    from drawstudio.config import ModelConfig
    from drawstudio.studio.run_setup import RunSetupDialog

    names = ("read_stride_init", "read_sigma_init", "write_sigma_init", "read_gamma_init", "write_gamma_init")
    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    defaults = ModelConfig()
    assert [getattr(dialog.config().model, name) for name in names] == [getattr(defaults, name) for name in names]
    dialog.choose_preset("mnist-attention")
    assert [getattr(dialog.config().model, name) for name in names] == [1.0, 0.5, 0.5, 1.0, 1.0]
    assert "read_gamma_init = 1.0" in dialog.preset_note.text() and "Edited" not in dialog.preset_note.text()
    dialog.ints["T"].setValue(16)  # an edit elsewhere keeps the start
    assert dialog.config().model.read_stride_init == 1.0 and "Edited" in dialog.preset_note.text()


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_starts_with_a_decaying_rate_and_the_plateau_rule_both_editable(qtbot, mnist_dir):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    train = dialog.config().train
    assert (train.lr, train.lr_decay, train.decay_every, train.plateau_factor, train.plateau_patience,
            train.kl_warmup_steps) == (1e-3, 0.5, 6248, 0.5, 2, 300)
    dialog.plateau_factor.setValue(0.25)
    dialog.ints["plateau_patience"].setValue(0)
    assert (dialog.config().train.plateau_factor, dialog.config().train.plateau_patience) == (0.25, 0)
    dialog.choose_preset("mnist-attention")
    train = dialog.config().train
    assert (train.plateau_factor, train.plateau_patience, train.eval_every) == (0.5, 2, 781)
    assert (train.steps, train.decay_start, train.decay_every, train.kl_warmup_steps) == (12500, 7810, 1562, 0)
    dialog.choose_preset("two-digit-mnist")  # picked after it: nothing of the benchmark's schedule stays
    train = dialog.config().train
    assert (train.decay_start, train.decay_every, train.kl_warmup_steps) == (0, 6248, 300)


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_fits_a_presets_schedule_to_the_length_until_it_is_edited_by_hand(qtbot, mnist_dir):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    dialog.choose_preset("mnist-attention")
    dialog.ints["steps"].setValue(25000)  # twice the preset's length: twice its hold and interval
    train = dialog.config().train
    assert (train.steps, train.decay_start, train.decay_every) == (25000, 15620, 3124)
    assert "made for 12,500 steps and follows" in dialog.preset_note.text()
    assert "Edited" not in dialog.preset_note.text()
    dialog.ints["decay_start"].setValue(9000)
    dialog.ints["steps"].setValue(12500)
    train = dialog.config().train
    assert (train.decay_start, train.decay_every) == (9000, 3124) and "Edited" in dialog.preset_note.text()
    dialog.choose_preset("two-digit-mnist")  # no length of its own: a new length leaves its schedule
    dialog.ints["steps"].setValue(40000)
    assert (dialog.config().train.decay_start, dialog.config().train.decay_every) == (0, 6248)


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_says_a_colour_preset_needs_an_image_folder(qtbot, mnist_dir):
    from drawstudio.studio.run_setup import FOLDER, RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    dialog.choose_preset("svhn")
    assert dialog.dataset.currentData() == FOLDER
    assert "Needs a folder of images" in dialog.preset_note.text()
    assert (dialog.config().model.channels, dialog.ints["height"].value()) == (3, 64)
    assert "choose a folder of images" in dialog.problem.text() and not dialog.create.isEnabled()


def test_command_line_preset_makes_a_new_runs_config(mnist_dir):
    from drawstudio.studio.new_run import config_for_dataset

    config = config_for_dataset("mnist", str(mnist_dir), "mnist-no-attention")
    assert (config.model.attention, config.model.T, config.train.dataset) == (False, 64, "mnist")
    assert config_for_dataset(None, str(mnist_dir), "two-digit-mnist").model.height == 60


def test_a_new_run_made_without_the_dialog_starts_with_the_dialogs_schedule(mnist_dir):
    from drawstudio.studio.new_run import config_for_dataset

    train = config_for_dataset("mnist", str(mnist_dir)).train
    assert (train.lr, train.lr_decay, train.decay_every, train.plateau_factor, train.plateau_patience,
            train.kl_warmup_steps) == (1e-3, 0.5, 6248, 0.5, 2, 300)


@pytest.mark.parametrize("argv", [["--follow"], ["--run", "RUN", "--follow", "--autostart"],
                                  ["--run", "RUN", "--preset", "svhn"]])
def test_command_line_refuses_options_that_cannot_work_together(argv, tmp_path, capsys):
    from drawstudio.studio.app import build_parser, check_args

    parser = build_parser()
    args = parser.parse_args([str(tmp_path / "new-run") if a == "RUN" else a for a in argv])
    with pytest.raises(SystemExit):
        check_args(parser, args)
    assert "error:" in capsys.readouterr().err


@pytest.mark.usefixtures("no_thread_left")
def test_setup_dialog_gives_every_setting_a_cell_of_its_own(qtbot, mnist_dir):
    from PySide6.QtWidgets import QGridLayout

    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(mnist_dir), check_online=False)
    qtbot.addWidget(dialog)
    grids = dialog.findChildren(QGridLayout)
    assert len(grids) == 2  # model and training
    for grid in grids:
        taken: dict[tuple[int, int], int] = {}
        for index in range(grid.count()):
            row, column, rows, columns = grid.getItemPosition(index)
            for cell in ((r, c) for r in range(row, row + rows) for c in range(column, column + columns)):
                assert cell not in taken, f"{grid.itemAt(index).widget()} overlaps {grid.itemAt(taken[cell]).widget()}"
                taken[cell] = index


@pytest.mark.parametrize(("button", "state"), [("create", "running"), ("create_only", "idle")])
def test_creating_a_run_in_the_dialog_starts_it_unless_created_only(studio, qtbot, tmp_path, mnist_dir, monkeypatch,
                                                                     button, state):
    from drawstudio.studio.run_setup import RunSetupDialog

    def press(dialog):
        dialog.ints["T"].setValue(2)
        dialog.run_dir.setText(str(tmp_path / "run"))
        getattr(dialog, button).click()
        return dialog.result()

    monkeypatch.setattr(RunSetupDialog, "exec", press)
    assert studio.show_run_setup("mnist", str(mnist_dir))
    qtbot.waitUntil(lambda: studio.state.value == state, timeout=30_000)
    if state == "running":
        qtbot.waitUntil(lambda: studio.history.step >= 1, timeout=30_000)  # it trains, nobody pressed Start
    studio.close_run()
