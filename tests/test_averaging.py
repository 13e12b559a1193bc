"""Polyak averaging of the weights (`--ema-decay`): the equation, a run that evaluates, draws and
keeps the average while training exactly as without it, and an average that resumes exactly."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.errors import ConfigError
from drawstudio.train.averaging import WeightAverage
from drawstudio.train.trainer import Trainer


class Scalar(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0]))
        self.register_buffer("count", torch.tensor([7]))


def test_the_average_moves_a_fraction_one_minus_decay_toward_the_weights():
    model = Scalar()
    average = WeightAverage(model, decay=0.75)
    with torch.no_grad():
        model.w.fill_(5.0)
        model.count.fill_(9)
    average.update()  # 0.75·1 + 0.25·5 = 2
    assert average.average["w"].item() == 2.0 and average.average["count"].item() == 9
    with torch.no_grad():
        model.w.fill_(-2.0)
    average.update()  # 0.75·2 + 0.25·(−2) = 1
    assert average.average["w"].item() == 1.0


def test_inside_applied_the_model_holds_the_average_and_after_it_its_weights():
    model = Scalar()
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.w.fill_(3.0)
    average.update()
    with average.applied():
        assert model.w.item() == 2.0
    assert model.w.item() == 3.0 and model.w.requires_grad


def test_decay_zero_keeps_no_average_and_applies_nothing():
    model = Scalar()
    average = WeightAverage(model, decay=0.0)
    average.update()
    with average.applied():
        assert model.w.item() == 1.0
    assert average.average is None


@pytest.mark.parametrize("decay", [-0.1, 1.0, 2.0])
def test_a_decay_outside_zero_to_one_is_refused_naming_the_setting(decay):
    with pytest.raises(ConfigError, match="ema_decay"):
        TrainConfig(ema_decay=decay).validate()


@pytest.fixture
def averaged_config(shared_data):
    return RunConfig(
        model=ModelConfig(T=3, read_n=2, write_n=3, enc_size=16, dec_size=16, z_size=4),
        train=TrainConfig(dataset="mnist", data_dir=str(shared_data / "mnist"), batch_size=16, steps=6, eval_every=0,
                          eval_images=64, threads=1, ema_decay=0.5),
    )


def trained(config: RunConfig, run=None, steps: int | None = None) -> Trainer:
    trainer = Trainer(config, run)
    while not trainer.finished and (steps is None or trainer.step < steps):
        trainer.advance()
    return trainer


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_averaging_never_changes_what_training_does(averaged_config):
    with_average = trained(averaged_config)
    without = trained(dataclasses.replace(averaged_config, train=dataclasses.replace(averaged_config.train,
                                                                                       ema_decay=0.0)))
    assert same_state(with_average.model.state_dict(), without.model.state_dict())
    assert not same_state(with_average.average.average, with_average.model.state_dict())


def test_a_run_that_averages_evaluates_and_draws_the_average_and_labels_its_bound(averaged_config):
    trainer = trained(averaged_config)
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    record = trainer.evaluate("test", 64, log=False)
    snapshot = trainer.snapshot(2, 2)
    assert same_state(trainer.model.state_dict(), weights)  # the trained weights are back
    trainer.model.load_state_dict(trainer.average.average)
    trainer.average.average = None  # evaluate the average directly, as plain weights
    plain = trainer.evaluate("test", 64, log=False)
    assert record["nll"] == plain["nll"] and record["ema_decay"] == 0.5 and "ema_decay" not in plain
    assert (snapshot.reconstructions == trainer.snapshot(2, 2).reconstructions).all()


def test_the_average_resumes_exactly_from_a_checkpoint(averaged_config, tmp_path):
    straight = trained(averaged_config, tmp_path / "straight")
    first = trained(averaged_config, tmp_path / "resumed", steps=3)
    first.save_checkpoint()
    first.close()
    second = trained(averaged_config, tmp_path / "resumed")
    assert second.step == 6
    assert same_state(straight.average.average, second.average.average)


def test_turning_averaging_on_for_a_run_starts_the_average_from_its_weights(averaged_config, tmp_path):
    plain = dataclasses.replace(averaged_config, train=dataclasses.replace(averaged_config.train, ema_decay=0.0))
    first = trained(plain, tmp_path / "run", steps=3)
    first.save_checkpoint()
    first.close()
    assert "average" not in torch.load(sorted((tmp_path / "run" / "checkpoints").glob("*.pt"))[-1],
                                       weights_only=True)
    reopened = Trainer(averaged_config, tmp_path / "run")
    assert reopened.step == 3 and same_state(reopened.average.average, reopened.model.state_dict())
