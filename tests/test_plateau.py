"""The plateau rule: lower the learning rate by a factor when the held-out bound has not improved
for K evaluations; its decisions, its records in metrics.jsonl, its state across a resume and
its settings on the command line."""

import json
import math
from typing import Any

import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics
from drawstudio.train.runs import open_run, reopen_config
from drawstudio.train.schedule import Plateau, plateau_step
from drawstudio.train.trainer import Trainer


def lowerings(bounds: list[float], patience: int) -> list[int]:
    """Indices of the evaluations after which the rule lowers the rate."""
    state, found = Plateau(), []
    for index, bound in enumerate(bounds):
        state, lower = plateau_step(state, bound, patience)
        if lower:
            found.append(index)
    return found


def test_the_rate_is_lowered_after_patience_evaluations_without_a_new_best():
    #          0    1    2    3    4    5    6    7    8    9
    bounds = [200, 150, 151, 149, 150, 150, 148, 149, 149, 149]
    assert lowerings(bounds, patience=2) == [5, 8]  # 4-5 and 7-8 are stale pairs (2 alone is not); 9 restarts
    assert lowerings(bounds, patience=1) == [2, 4, 5, 7, 8, 9]


def test_a_lowering_restarts_the_count_but_keeps_the_best_to_beat():
    state, lower = plateau_step(Plateau(best=100.0, stale=1), 101.0, patience=2)
    assert lower and state == Plateau(best=100.0, stale=0)
    state, lower = plateau_step(state, 100.0, patience=2)  # equal is not better
    assert not lower and state == Plateau(best=100.0, stale=1)


def test_patience_zero_never_lowers_and_nan_is_never_a_new_best():
    assert lowerings([5, 6, 7, 8, 9], patience=0) == []
    state, _ = plateau_step(Plateau(best=10.0), math.nan, patience=3)
    assert state == Plateau(best=10.0, stale=1)


def test_a_bound_on_another_number_of_images_starts_the_memory_afresh():
    state = Plateau(best=245.26, stale=1, images=2000)  # a best on a 2,000-image subset
    state, lower = plateau_step(state, 246.1, patience=2, images=10000)  # the whole split: worse, not comparable
    assert not lower and state == Plateau(best=246.1, stale=0, images=10000)
    state, lower = plateau_step(state, 246.5, patience=2, images=10000)
    assert not lower and state == Plateau(best=246.1, stale=1, images=10000)
    state, lower = plateau_step(Plateau(best=10.0, stale=1), 11.0, patience=2, images=500)  # count not known
    assert lower and state == Plateau(best=10.0, stale=0)


@pytest.fixture
def stalled_config(shared_data):
    """Evaluations every 2 steps on MNIST (no validation split: the rule watches the test bound)."""
    return RunConfig(
        model=ModelConfig(T=3, enc_size=16, dec_size=16, z_size=4),
        train=TrainConfig(dataset="mnist", data_dir=str(shared_data / "mnist"), batch_size=8, steps=8,
                          eval_every=2, eval_images=16, lr=1e-3, lr_decay=0.5, decay_every=100,
                          plateau_factor=0.25, plateau_patience=2),
    )


def stall(monkeypatch, bounds: list[float]) -> None:
    """Make the periodic evaluations report `bounds`, in order (the model itself trains normally)."""
    queue = list(bounds)
    real = Trainer.evaluate

    def scripted(self: Trainer, split: str = "test", *args: Any, **kwargs: Any) -> dict[str, Any]:
        record = real(self, split, *args, **kwargs)
        record["nll"] = queue.pop(0)
        return record

    monkeypatch.setattr(Trainer, "evaluate", scripted)


def test_a_stalled_bound_lowers_the_rate_by_the_factor_and_records_it_as_the_rules(
        stalled_config, tmp_path, monkeypatch):
    stall(monkeypatch, [500, 400, 410, 420, 390])  # evaluations at steps 0, 2, 4, 6, 8
    trainer = Trainer(stalled_config, tmp_path / "run")
    while not trainer.finished:
        trainer.advance()
    changes = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "schedule"]
    reached = 1e-3 * 0.5 ** (6 / 100)  # the exponential decay's rate at step 6
    assert changes == [{"kind": "schedule", "step": 6, "lr": pytest.approx(0.25 * reached), "decay": 0.5,
                        "every": 100, "rule": "plateau", "split": "test", "best": 400}]
    assert trainer.lr == pytest.approx(0.25 * reached * 0.5 ** (2 / 100))  # decay goes on from there


def test_the_rules_memory_survives_a_checkpoint_and_an_old_checkpoint_without_it_loads(
        stalled_config, tmp_path, monkeypatch):
    stall(monkeypatch, [500, 400, 410])  # steps 0, 2, 4: one stale evaluation so far
    trainer = Trainer(stalled_config, tmp_path / "run")
    for _ in range(4):
        trainer.advance()
    path = trainer.save_checkpoint()
    trainer.close()
    assert open_run(tmp_path / "run").rate.plateau == Plateau(best=400, stale=1, images=16)

    state = torch.load(path, weights_only=True)
    del state["plateau"]  # as written before the rule existed
    torch.save(state, path)
    assert open_run(tmp_path / "run").rate.plateau == Plateau()


def test_a_resume_that_evaluates_on_other_images_does_not_lower_the_rate_against_the_old_best(
        stalled_config, tmp_path, monkeypatch):
    stall(monkeypatch, [500, 400, 410, 450, 440])  # steps 0, 2, 4 on 16 images; 6, 8 on 8 after the resume
    trainer = Trainer(stalled_config, tmp_path / "run")
    for _ in range(5):
        trainer.advance()
    trainer.save_checkpoint()
    trainer.close()
    config, _ = reopen_config(tmp_path / "run", train={"eval_images": 8})
    resumed = Trainer(config, tmp_path / "run")
    while not resumed.finished:
        resumed.advance()
    assert [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "schedule"] == []
    assert resumed.rate.plateau == Plateau(best=440, stale=0, images=8)


def test_an_old_checkpoints_plateau_memory_takes_its_image_count_from_the_checkpoints_config(
        stalled_config, tmp_path, monkeypatch):
    stall(monkeypatch, [500, 400])
    trainer = Trainer(stalled_config, tmp_path / "run")
    for _ in range(3):
        trainer.advance()
    path = trainer.save_checkpoint()
    trainer.close()
    state = torch.load(path, weights_only=True)
    del state["plateau"]["images"]  # as written before the memory held its count
    torch.save(state, path)
    assert open_run(tmp_path / "run").rate.plateau == Plateau(best=400, stale=0, images=16)


def test_plateau_flags_are_stored_in_the_run_and_a_bad_factor_is_refused_by_name(
        tmp_path, tiny_train_argv, run_cli, error_line):
    run = tmp_path / "run"
    code, stderr = run_cli(*tiny_train_argv(run, "--steps", "1", "--plateau-factor", "1.5"))
    assert code == 1 and "plateau_factor=1.5 must be in (0, 1]" in error_line(stderr)
    code, _ = run_cli(*tiny_train_argv(run, "--steps", "1", "--plateau-factor", "0.3", "--plateau-patience", "4"))
    assert code == 0
    train = json.loads((run / "config.json").read_text())["train"]
    assert (train["plateau_factor"], train["plateau_patience"]) == (0.3, 4)
    code, _ = run_cli(*tiny_train_argv(run, "--steps", "2", "--plateau-patience", "0"))  # may change on resume
    assert code == 0 and json.loads((run / "config.json").read_text())["train"]["plateau_patience"] == 0
    assert ckpt.list_checkpoints(run)[0].name == "step-000000002.pt"
