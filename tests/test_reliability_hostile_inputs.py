"""Hostile and broken inputs through the CLI: a planted pickle that would run code, damaged
checkpoints, a checkpoint of another model, corrupt dataset files, bad config files and
impossible settings. Each ends in one line `drawstudio: error: <file>: <problem>`, a non-zero
exit and no traceback, and leaves everything already on disk as it was."""

import contextlib
import json
import os
import pickle
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drawstudio.errors import CheckpointError
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics


def only_checkpoint(run: Path) -> Path:
    [path] = ckpt.list_checkpoints(run)
    return path


# ---- a planted checkpoint whose unpickling would run code -----------------------------------


class PlantedPayload:
    """Unpickling this calls os.system("touch <marker>"): what a hostile checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def plant(path: Path, marker: Path, variant: str) -> Path:
    payload = PlantedPayload(marker)
    if variant == "raw-pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    elif variant == "inside-a-real-checkpoint":
        state = ckpt.load_checkpoint(path)
        torch.save({**state, "config": payload}, path)
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=variant == "zip")
    return path


VARIANTS = ["zip", "legacy-format", "raw-pickle", "inside-a-real-checkpoint"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_planted_pickle_is_refused_by_the_checkpoint_loader_and_runs_nothing(tiny_run, tmp_path, variant):
    marker = tmp_path / "created-by-the-payload"
    path = plant(only_checkpoint(tiny_run), marker, variant)
    # The payload is live: an unrestricted load runs it (this is what must never happen).
    with contextlib.suppress(Exception):
        torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(CheckpointError) as caught:
        ckpt.load_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "refused" in message
    assert not marker.exists()


def test_planted_checkpoint_is_refused_by_drawstudio_eval_in_one_line_and_runs_nothing(
        tiny_run, tmp_path, digest, error_line):
    marker = tmp_path / "created-by-the-payload"
    path = plant(only_checkpoint(tiny_run), marker, "zip")
    before = digest(tiny_run)
    # a real process: what a user runs, with its own stderr and exit code
    done = subprocess.run([sys.executable, "-m", "drawstudio", "eval", "--run", str(tiny_run), "--max-images", "50"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    line = error_line(done.stderr)
    assert line.startswith(f"drawstudio: error: {path}: refused: it asks for posix.system")
    assert not marker.exists()
    assert digest(tiny_run) == before


def test_planted_checkpoint_newer_than_a_good_one_is_skipped_with_a_warning_and_runs_nothing(
        tiny_run, tmp_path, run_cli, tiny_train_argv):
    marker = tmp_path / "created-by-the-payload"
    planted = ckpt.checkpoint_path(tiny_run, 9)
    shutil.copy(only_checkpoint(tiny_run), planted)
    plant(planted, marker, "zip")
    code, stderr = run_cli(*tiny_train_argv(tiny_run, "--steps", "4"))
    assert code == 0
    assert f"drawstudio: warning: skipped a damaged checkpoint: {planted}: refused" in stderr
    resumes = [r for r in read_metrics(tiny_run / "metrics.jsonl") if r["kind"] == "resume"]
    assert resumes[-1]["step"] == 3
    assert not marker.exists()


# ---- broken files in a run directory -----------------------------------------------------------


def truncated_checkpoint(run: Path) -> Path:
    path = only_checkpoint(run)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def corrupt_checkpoint(run: Path) -> Path:
    path = only_checkpoint(run)
    content = bytearray(path.read_bytes())
    for position in range(len(content) // 3, 2 * len(content) // 3, 101):
        content[position] ^= 0xA5
    path.write_bytes(bytes(content))
    return path


def checkpoint_of_another_model(run: Path) -> Path:
    """The run's config.json says 48 LSTM units; its checkpoint holds a 32-unit model."""
    config = json.loads((run / "config.json").read_text())
    config["model"].update(enc_size=48, dec_size=48)
    (run / "config.json").write_text(json.dumps(config))
    return only_checkpoint(run)


def edit_config(run: Path, **model: object) -> Path:
    path = run / "config.json"
    config = json.loads(path.read_text())
    config["model"].update(model)
    path.write_text(json.dumps(config))
    return path


def config_cut_short(run: Path) -> Path:
    path = run / "config.json"
    path.write_text(path.read_text()[:40])
    return path


RUN_DIR_DAMAGE = {
    "truncated-checkpoint": (truncated_checkpoint, "truncated"),
    "corrupt-checkpoint": (corrupt_checkpoint, "corrupt"),
    "checkpoint-of-another-model": (checkpoint_of_another_model, "different model (enc_size=32 there, 48 here"),
    "config-with-a-wrong-type": (lambda run: edit_config(run, T="four"), "model.T: expected int, got str 'four'"),
    "config-with-an-impossible-value": (lambda run: edit_config(run, write_n=50), "write_n=50"),
    "config-cut-short": (config_cut_short, "not valid JSON"),
}


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize("damage", RUN_DIR_DAMAGE)
def test_broken_file_in_a_run_gives_one_line_naming_it_and_changes_nothing(
        tiny_run, run_cli, digest, error_line, damage, command):
    damage_run, problem = RUN_DIR_DAMAGE[damage]
    named = damage_run(tiny_run)
    before = digest(tiny_run)
    argv = ["train", "--run", tiny_run, "--steps", "10", "--quiet"] if command == "train" else \
        ["eval", "--run", tiny_run, "--max-images", "50"]
    code, stderr = run_cli(*argv)
    assert code == 1
    line = error_line(stderr)
    assert line.startswith(f"drawstudio: error: {named}: ") and problem in line
    assert digest(tiny_run) == before


# ---- broken datasets ----------------------------------------------------------------------------


def corrupt_idx_file(tmp_path: Path, shared_data: Path) -> tuple[list[str], Path]:
    data = Path(shutil.copytree(shared_data / "mnist", tmp_path / "mnist"))
    images = data / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:100_000])
    return ["--dataset", "mnist", "--data-dir", str(data)], images


def unreadable_image_in_a_folder(tmp_path: Path, shared_data: Path) -> tuple[list[str], Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    broken = folder / "3b.png"  # sorts between good images: read mid-way, not first
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    return ["--dataset", str(folder), "--height", "8", "--width", "8", "--write-n", "3", "--batch-size", "2"], broken


def missing_dataset_dir(tmp_path: Path, shared_data: Path) -> tuple[list[str], Path]:
    absent = tmp_path / "no-such-data"
    return ["--dataset", "mnist", "--data-dir", str(absent)], absent


DATA_DAMAGE = {
    "corrupt-idx-file": (corrupt_idx_file, "corrupt gzip data"),
    "unreadable-image-in-a-folder": (unreadable_image_in_a_folder, "cannot read image"),
    "missing-dataset-dir": (missing_dataset_dir, "does not exist"),
}


@pytest.mark.parametrize("damage", DATA_DAMAGE)
def test_broken_dataset_gives_one_line_naming_the_file_and_creates_no_run(
        tmp_path, shared_data, run_cli, digest, error_line, damage):
    make, problem = DATA_DAMAGE[damage]
    flags, named = make(tmp_path, shared_data)
    before = digest(tmp_path)
    run = tmp_path / "run"
    code, stderr = run_cli("train", "--run", run, "--T", "4", "--hidden", "32", "--z", "8", "--quiet", *flags)
    assert code == 1
    line = error_line(stderr)
    assert str(named) in line and problem in line
    assert not run.exists()
    assert digest(tmp_path) == before


# ---- impossible settings --------------------------------------------------------------------------

IMPOSSIBLE = {
    "write-n-larger-than-the-image": (["--write-n", "40"], "write_n=40"),
    "zero-drawing-steps": (["--T", "0"], "T=0"),
    "negative-hidden-size": (["--hidden", "-1"], "enc_size=-1"),
    "zero-latent-size": (["--z", "0"], "z_size=0"),
    "hidden-size-beyond-memory": (["--hidden", "3000000000"], "model's sizes are impossible"),
    "zero-learning-rate": (["--lr", "0"], "lr=0.0"),
    "negative-learning-rate": (["--lr", "-0.001"], "lr=-0.001"),
    "zero-batch": (["--batch-size", "0"], "batch_size=0"),
    "batch-larger-than-the-dataset": (["--batch-size", "9001"], "batch_size=9001 is larger than the 9000"),
    "seed-beyond-64-bits": (["--seed", str(2**64)], "seed="),
    "zero-epochs": (["--epochs", "0"], "--epochs 0.0"),
    "cuda-without-a-gpu": (["--device", "cuda"], "no CUDA GPU"),
}


@pytest.mark.parametrize("setting", IMPOSSIBLE)
def test_impossible_setting_is_rejected_before_any_work_starts(tmp_path, tiny_train_argv, run_cli, error_line, setting):
    if setting == "cuda-without-a-gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    flags, problem = IMPOSSIBLE[setting]
    run = tmp_path / "run"
    code, stderr = run_cli(*tiny_train_argv(run, *flags))
    assert code == 1
    assert problem in error_line(stderr)
    assert not run.exists()


def test_impossible_learning_rate_for_an_existing_run_is_rejected_before_it_is_touched(
        tiny_run, tiny_train_argv, run_cli, digest, error_line):
    before = digest(tiny_run)
    code, stderr = run_cli(*tiny_train_argv(tiny_run, "--lr", "0"))
    assert code == 1
    assert "lr=0.0 must be a positive number" in error_line(stderr)
    assert digest(tiny_run) == before
