"""TensorBoard logs of a run (`drawstudio train --tensorboard`, the run-setup checkbox), read back
with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_kinds import train_argv
from tensorboard.backend.event_processing import event_accumulator  # the optional extra, in requirements-test.txt

from drawstudio.config import RunConfig
from drawstudio.errors import ConfigError
from drawstudio.train.metrics import read_metrics

EVALS = ("--eval-every", "2", "--eval-images", "5")


def read_events(directory: Path) -> event_accumulator.EventAccumulator:
    files = list(directory.glob("events.out.tfevents.*"))
    assert len(files) == 1, files
    everything = {event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0, event_accumulator.HISTOGRAMS: 0}
    reader = event_accumulator.EventAccumulator(str(files[0]), size_guidance=everything)
    reader.Reload()
    return reader


def test_train_writes_scalars_kl_per_step_and_image_grids_that_tensorboard_reads(run_kind_data, tmp_path, run_cli):
    run = tmp_path / "run"
    code, err = run_cli(*train_argv("binarized", run_kind_data, run), "--steps", "4", *EVALS, "--tensorboard")
    assert code == 0, err
    events = read_events(run / "tensorboard")
    tags = events.Tags()
    assert set(tags["scalars"]) == {
        "train/loss", "train/reconstruction", "train/kl", "train/learning_rate", "train/grad_norm",
        "test/nll_bound", "test/reconstruction", "test/kl", "valid/nll_bound", "valid/reconstruction", "valid/kl"}
    assert tags["histograms"] == ["train/kl_per_step"]
    assert set(tags["images"]) == {"images/originals", "images/reconstructions", "images/samples"}

    records = read_metrics(run / "metrics.jsonl")
    train = [r for r in records if r["kind"] == "train"]
    assert [s.step for s in events.Scalars("train/loss")] == [r["step"] for r in train]
    assert [s.value for s in events.Scalars("train/loss")] == pytest.approx([r["loss"] for r in train])
    assert [s.value for s in events.Scalars("train/learning_rate")] == pytest.approx([r["lr"] for r in train])
    tests = [r for r in records if r["kind"] == "eval" and r["split"] == "test"]
    assert [s.step for s in events.Scalars("test/nll_bound")] == [r["step"] for r in tests] == [0, 2, 4]
    assert [s.value for s in events.Scalars("test/nll_bound")] == pytest.approx([r["nll"] for r in tests])
    kl_per_step = events.Histograms("train/kl_per_step")[-1].histogram_value
    assert kl_per_step.bucket_limit == [1.0, 2.0] and kl_per_step.bucket == pytest.approx(train[-1]["kl_t"])
    samples = events.Images("images/samples")
    assert [image.step for image in samples] == [0, 2, 4]
    assert (samples[-1].width, samples[-1].height) == (4 * 29 + 1,) * 2  # 16 images of 28x28, 4 a row


def test_tensorboard_logs_change_nothing_in_training(run_kind_data, tmp_path, run_cli):
    losses = []
    for name, extra in (("plain", ()), ("logged", ("--tensorboard",))):
        code, err = run_cli(*train_argv("conditional", run_kind_data, tmp_path / name), "--steps", "4", *EVALS, *extra)
        assert code == 0, err
        losses.append([(r["kind"], r.get("loss", r.get("nll"))) for r in read_metrics(tmp_path / name / "metrics.jsonl")
                       if r["kind"] in ("train", "eval")])
    assert losses[0] == losses[1] and len(losses[0]) == 4 + 3


def test_a_named_folder_is_taken_from_the_working_directory_and_no_tensorboard_stops_it(
        run_kind_data, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert run_cli(*train_argv("unconditional", run_kind_data, run), "--tensorboard", "logs")[0] == 0
    assert json.loads((run / "config.json").read_text())["train"]["tensorboard"] == str(tmp_path / "logs")
    assert [s.step for s in read_events(tmp_path / "logs").Scalars("train/loss")] == [1, 2]
    assert run_cli(*train_argv("unconditional", run_kind_data, run), "--steps", "3", "--no-tensorboard")[0] == 0
    assert json.loads((run / "config.json").read_text())["train"]["tensorboard"] is None
    assert [s.step for s in read_events(tmp_path / "logs").Scalars("train/loss")] == [1, 2]


def test_without_the_tensorboard_package_the_option_is_one_line_saying_how_to_install(
        run_kind_data, tmp_path, run_cli, error_line, monkeypatch):
    monkeypatch.setattr("drawstudio.export.tensorboard.available", lambda: False)
    run = tmp_path / "run"
    code, err = run_cli(*train_argv("unconditional", run_kind_data, run), "--tensorboard")
    assert code == 1 and "pip install 'drawstudio[tensorboard]'" in error_line(err)
    assert not run.exists()


def test_the_tensorboard_setting_round_trips_through_config_json_and_is_checked():
    config = RunConfig()
    config.train.tensorboard = "tensorboard"
    assert RunConfig.from_dict(json.loads(config.to_json())) == config
    data = config.to_dict()
    data["train"]["tensorboard"] = 3
    with pytest.raises(ConfigError, match=r"train\.tensorboard: expected str or null, got int"):
        RunConfig.from_dict(data)
    data["train"]["tensorboard"] = " "
    with pytest.raises(ConfigError, match="tensorboard=' ' must name a folder"):
        RunConfig.from_dict(data)


@pytest.mark.usefixtures("no_thread_left")
def test_the_run_setup_checkbox_makes_the_studio_write_tensorboard_logs(studio, qtbot, run_kind_data, tmp_path):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(run_kind_data / "mnist"), check_online=False)
    qtbot.addWidget(dialog)
    assert dialog.config().train.tensorboard is None
    dialog.tensorboard.setChecked(True)
    config = dialog.config()
    assert config.train.tensorboard == "tensorboard"
    config.model.T, config.model.enc_size, config.model.dec_size, config.model.z_size = 2, 8, 8, 4
    config.train.batch_size, config.train.eval_every, config.train.eval_images = 8, 1, 5
    run = tmp_path / "run"
    assert studio.open_run(run, config), studio.last_error
    studio.step_once()
    qtbot.waitUntil(lambda: studio.canvas.snapshot.step == 1, timeout=30_000)
    studio.close_run()
    events = read_events(run / "tensorboard")
    assert [s.step for s in events.Scalars("train/loss")] == [1]
    assert [image.step for image in events.Images("images/reconstructions")] == [0, 1]
