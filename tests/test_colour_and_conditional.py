"""Beyond grey digits: colour images end to end, and conditional DRAW with class consistency."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from drawstudio.cli.main import main
from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.recognition.consistency import class_consistency
from drawstudio.train.runs import open_run
from drawstudio.train.trainer import Trainer


@pytest.fixture
def colour_folder(tmp_path):
    """40 colour PNGs in two class folders: red squares and blue circles-ish blobs."""
    rng = np.random.default_rng(0)
    for name, channel in (("red", 0), ("blue", 2)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(20):
            image = np.zeros((16, 16, 3), np.uint8)
            top, left = rng.integers(0, 8, 2)
            image[top:top + 8, left:left + 8, channel] = 255
            image[..., 1] = rng.integers(0, 60, (16, 16))
            Image.fromarray(image).save(tmp_path / "images" / name / f"{i}.png")
    return tmp_path / "images"


def test_colour_folder_trains_samples_and_exports_in_colour(colour_folder, tmp_path, run_cli):
    run = tmp_path / "run"
    code, err = run_cli("train", "--dataset", colour_folder, "--run", run, "--steps", "4", "--channels", "3",
                        "--height", "12", "--width", "12", "--likelihood", "logistic", "--binarize", "none",
                        "--T", "4", "--read-n", "3", "--write-n", "3", "--hidden", "32", "--z", "6",
                        "--batch-size", "8", "--quiet")
    assert code == 0, err
    code, err = run_cli("sample", "--run", run, "--n", "6", "--gif", tmp_path / "draw.gif", "--png", tmp_path / "grid.png")
    assert code == 0, err
    png = Image.open(tmp_path / "grid.png")
    assert png.mode == "RGB"
    gif = Image.open(tmp_path / "draw.gif")
    assert gif.n_frames == 4
    code, err = run_cli("eval", "--run", run, "--json")
    assert code == 0, err

    trainer = open_run(run)
    snap = trainer.snapshot(n_recon=2, n_samples=2)
    assert snap.reconstructions.shape == (4, 2, 3, 12, 12)
    assert snap.read_glimpses.shape == (4, 2, 2, 3, 3, 3)
    nll = trainer.evaluate("test", log=False)["nll"]
    assert np.isfinite(nll) and nll > 0  # nats per image of a discrete likelihood: positive


@pytest.fixture
def conditional_config(shared_data):
    return RunConfig(
        model=ModelConfig(T=4, enc_size=48, dec_size=48, z_size=8, num_classes=10),
        train=TrainConfig(dataset="mnist", data_dir=str(shared_data / "mnist"), batch_size=32, steps=5, eval_every=0),
    )


def test_conditional_eval_reports_class_consistency_with_the_classifiers_accuracy(conditional_config, tmp_path,
                                                                                  run_cli, capsys):
    trainer = Trainer(conditional_config, tmp_path / "run")
    while not trainer.finished:
        trainer.advance()
    trainer.close()
    code, err = run_cli("classifier", "--run", tmp_path / "run", "--steps", "80")
    assert code == 0, err
    capsys.readouterr()
    assert main(["eval", "--run", str(tmp_path / "run"), "--json", "--max-images", "100"]) == 0
    consistency = json.loads(capsys.readouterr().out)["class_consistency"]
    assert consistency["classifier_accuracy"] > 0.5  # 80 steps of a small CNN on real digits (chance: 0.1)
    assert len(consistency["per_class"]) == 10
    assert 0 <= consistency["overall"] <= 1 and consistency["chance"] == pytest.approx(0.1)


def test_class_consistency_counts_how_often_the_classifier_agrees(conditional_config, tmp_path, monkeypatch):
    trainer = Trainer(conditional_config, None)

    class AlwaysSeven(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.full((x.shape[0],), 7), 10).float()

    monkeypatch.setattr("drawstudio.recognition.consistency.load_classifier", lambda run_dir, device: (AlwaysSeven(), 0.99))
    result = class_consistency(trainer, tmp_path, per_class=5)
    assert result["overall"] == pytest.approx(0.1)
    assert [share for share in result["per_class"].values()] == [0.0] * 7 + [1.0] + [0.0] * 2


def test_eval_before_any_classifier_trains_one_and_reports_class_consistency(colour_folder, tmp_path, run_cli,
                                                                             capsys, monkeypatch):
    monkeypatch.setattr("drawstudio.recognition.classifier.DEFAULT_STEPS", 20)
    run = tmp_path / "run"
    code, err = run_cli("train", "--dataset", colour_folder, "--run", run, "--steps", "2", "--conditional",
                        "--channels", "3", "--height", "8", "--width", "8", "--likelihood", "logistic",
                        "--binarize", "none", "--T", "2", "--hidden", "8", "--z", "4", "--batch-size", "8", "--quiet")
    assert code == 0, err
    assert not (run / "classifier.pt").exists()
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--json", "--iw-samples", "2"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert "no classifier yet" in captured.err
    assert (run / "classifier.pt").exists()
    consistency = result["class_consistency"]
    assert sorted(consistency["per_class"]) == ["blue", "red"] and consistency["chance"] == pytest.approx(0.5)
    assert 0 <= consistency["classifier_accuracy"] <= 1 and result["iw_samples"] == 2


def test_the_recogniser_of_a_dynamically_binarised_run_learns_and_is_tested_on_grey_intensities(
        conditional_config, monkeypatch):
    """Such a model draws Bernoulli means (grey), so its samples are judged by a classifier of grey images."""
    from drawstudio.data import batches
    from drawstudio.recognition import classifier

    trainer = Trainer(conditional_config, None)
    assert trainer.binarize == "dynamic"
    seen = []
    real = batches.to_model_input
    monkeypatch.setattr(batches, "to_model_input", lambda images, binarize, *rest: seen.append(binarize) or
                        real(images, binarize, *rest))
    classifier.train_classifier(trainer, steps=2)
    assert seen and set(seen) == {"none"}
    assert classifier.judged_as("threshold") == "threshold"  # a thresholded model draws thresholded images
