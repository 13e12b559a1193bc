"""Reopening an existing run: the one rule the command line and the studio follow."""

import pytest

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.errors import ConfigError
from drawstudio.train.runs import reopen_config


@pytest.fixture
def run_dir(tmp_path):
    config = RunConfig(ModelConfig(T=4, enc_size=16, dec_size=16, z_size=4),
                       TrainConfig(dataset="mnist", steps=100, lr=1e-3, batch_size=8))
    config.save(tmp_path / "config.json")
    return tmp_path


def test_resumable_settings_change_and_the_rest_stays_as_stored(run_dir):
    config, schedule = reopen_config(run_dir, {"T": 4}, {"steps": 500, "device": "cpu", "batch_size": 8})
    assert (config.train.steps, config.train.device, config.train.batch_size, config.model.T) == (500, "cpu", 8, 4)
    assert schedule == {}


def test_learning_rate_settings_become_a_schedule_change_from_the_current_step(run_dir):
    config, schedule = reopen_config(run_dir, train={"lr": 3e-4, "lr_decay": 0.5, "decay_every": 1000})
    # decay_every equals the stored one and is still part of the change: the schedule may have moved since
    assert schedule == {"lr": 3e-4, "decay": 0.5, "every": 1000}
    assert config.train.lr == 1e-3  # the stored starting rate: the change is a new segment, not a new start


def test_a_model_change_is_refused_naming_the_field(run_dir):
    with pytest.raises(ConfigError, match=r"different model \(T: 4 → 8\)"):
        reopen_config(run_dir, {"T": 8})


def test_a_fixed_training_setting_is_refused_naming_it(run_dir):
    with pytest.raises(ConfigError, match=r"cannot change batch_size: 8 → 16 of an existing run"):
        reopen_config(run_dir, train={"batch_size": 16})


def test_when_the_decay_starts_is_fixed_at_creation(run_dir):
    with pytest.raises(ConfigError, match=r"cannot change decay_start: 0 → 500 of an existing run"):
        reopen_config(run_dir, train={"decay_start": 500})


def test_an_impossible_schedule_change_is_refused_before_anything_runs(run_dir):
    with pytest.raises(ConfigError, match="lr_decay"):
        reopen_config(run_dir, train={"lr_decay": 2.0})
    with pytest.raises(ConfigError, match="steps"):
        reopen_config(run_dir, train={"steps": -1})
