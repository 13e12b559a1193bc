"""The run's learning-rate control as numbers: the configured schedule, a user's change and
its record, the plateau rule's lowering and record, and its state through a checkpoint."""

import pytest

from drawstudio.config import TrainConfig
from drawstudio.errors import ConfigError
from drawstudio.train.rate_control import RateControl
from drawstudio.train.schedule import Plateau


def control(**train) -> RateControl:
    return RateControl(TrainConfig(lr=1e-3, lr_decay=0.5, decay_every=10, **train))


def test_the_rate_follows_the_configured_rate_decay_and_period():
    rates = control()
    assert rates.lr(0) == pytest.approx(1e-3)
    assert rates.lr(10) == pytest.approx(5e-4)
    assert rates.lr(5) == pytest.approx(1e-3 * 0.5 ** 0.5)


def test_a_change_is_recorded_with_the_values_that_govern_from_its_step():
    rates = control()
    record = rates.change(20, decay=0.25)
    assert record == {"kind": "schedule", "step": 20, "lr": pytest.approx(2.5e-4), "decay": 0.25, "every": 10}
    assert rates.lr(30) == pytest.approx(2.5e-4 * 0.25)
    record = rates.change(30, lr=1e-2, every=5)
    assert record == {"kind": "schedule", "step": 30, "lr": 1e-2, "decay": 0.25, "every": 5}


def test_an_impossible_change_is_refused_and_changes_nothing():
    rates = control()
    with pytest.raises(ConfigError, match="lr_decay=2"):
        rates.change(5, decay=2.0)
    with pytest.raises(ConfigError, match="lr=-0.1"):
        rates.change(5, lr=-0.1)
    with pytest.raises(ConfigError, match="decay_every=0"):
        rates.change(5, every=0)
    assert len(rates.segments) == 1 and rates.lr(10) == pytest.approx(5e-4)


def test_the_plateau_rule_lowers_the_current_rate_by_the_factor_after_patience_stale_evaluations():
    rates = control(plateau_factor=0.1, plateau_patience=2)
    assert rates.observe(0, "test", 100.0) is None  # a new best
    assert rates.observe(10, "test", 101.0) is None  # stale 1
    record = rates.observe(20, "valid", 100.0)  # stale 2: lowered (equal is not better)
    assert record == {"kind": "schedule", "step": 20, "lr": pytest.approx(2.5e-5), "decay": 0.5, "every": 10,
                      "rule": "plateau", "split": "valid", "best": 100.0}
    assert rates.lr(20) == pytest.approx(2.5e-5)
    assert rates.plateau == Plateau(100.0, 0)


def test_the_plateau_settings_are_read_at_each_evaluation():
    train = TrainConfig(lr=1e-3, plateau_patience=0)
    rates = RateControl(train)
    assert rates.observe(0, "test", 5.0) is None
    assert rates.observe(1, "test", 6.0) is None  # rule off
    train.plateau_patience = 1
    assert rates.observe(2, "test", 7.0)["lr"] == pytest.approx(0.5e-3)


def test_schedule_and_plateau_memory_survive_the_state_dict():
    rates = control()
    rates.change(10, lr=2e-3)
    rates.observe(10, "test", 50.0)
    rates.observe(11, "test", 60.0)
    state = rates.state_dict()
    assert state["plateau"] == {"best": 50.0, "stale": 1, "images": 0}
    restored = control()
    restored.load_state_dict(state)
    assert restored.segments == rates.segments and restored.plateau == Plateau(50.0, 1)
    assert type(restored.plateau.best) is float and type(restored.plateau.stale) is int
    old = control()
    old.load_state_dict({"schedule": state["schedule"]})  # a checkpoint from before the rule
    assert old.segments == rates.segments and old.plateau == Plateau()


def test_the_stored_plateau_memory_is_read_as_numbers():
    rates = control()
    rates.load_state_dict({"schedule": rates.state_dict()["schedule"], "plateau": {"best": "7.5", "stale": "3"}})
    assert rates.plateau == Plateau(7.5, 3)
