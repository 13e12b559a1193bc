"""The learning-rate pane as a person uses it: its fields show the rate in force as it decays,
and Apply changes only what was edited (a decay edit never jumps the rate; a rate edit starts
the new rate there), exactly as the preview drew it."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from drawstudio.train import schedule
from drawstudio.train.run_state import RunState

pytestmark = pytest.mark.usefixtures("no_thread_left")
WAIT_MS = 30_000


@pytest.fixture
def decaying(tiny_config):
    """The tiny model halving its rate every 10 steps."""
    return dataclasses.replace(tiny_config, train=dataclasses.replace(tiny_config.train, lr_decay=0.5, decay_every=10))


def trained_to(studio, qtbot, run_dir, config, steps: int):
    assert studio.open_run(run_dir, config), studio.last_error
    for _ in range(steps):
        studio.step_once()
    qtbot.waitUntil(lambda: studio.history.step == steps and studio.state == RunState.PAUSED, timeout=WAIT_MS)
    pane = studio.lr_pane
    pane._last_draw = 0.0  # the pane redraws at most once a second; don't wait for it here
    assert pane.refresh()
    return pane


def type_into(qtbot, box, text: str) -> None:
    """Select the field's text and type over it, then Enter, as a person does."""
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), text)
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    box.clearFocus()


def last_schedule_record(studio, qtbot) -> dict:
    qtbot.waitUntil(lambda: bool(studio.history.schedule_changes), timeout=WAIT_MS)
    return studio.history.schedule_changes[-1]


def test_the_rate_field_shows_the_rate_in_force_as_it_decays(studio, qtbot, tmp_path, decaying):
    pane = trained_to(studio, qtbot, tmp_path / "run", decaying, 20)
    assert pane.lr.value() == pytest.approx(1e-3 * 0.5 ** 2)
    assert "now 2.50e-04 at step 20 (×0.5 every 10 steps)" in pane.status.text()


def test_a_decay_edit_alone_continues_from_the_rate_in_force(studio, qtbot, tmp_path, decaying):
    pane = trained_to(studio, qtbot, tmp_path / "run", decaying, 15)
    in_force = 1e-3 * 0.5 ** 1.5
    type_into(qtbot, pane.decay, "0.9")
    assert pane.edits() == {"decay": pytest.approx(0.9)}
    qtbot.mouseClick(pane.apply_button, Qt.MouseButton.LeftButton)
    record = last_schedule_record(studio, qtbot)
    assert record["step"] == 15
    assert record["lr"] == pytest.approx(in_force)  # no jump back to the run's starting 1e-3
    assert (record["decay"], record["every"]) == (pytest.approx(0.9), 10)
    studio.step_once()
    optimizer = studio.run.session.trainer.optimizer
    qtbot.waitUntil(lambda: studio.history.step == 16, timeout=WAIT_MS)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(in_force)  # step 16 trained at step 15's rate
    assert studio.run.session.trainer.lr == pytest.approx(in_force * 0.9 ** 0.1)


def test_a_rate_edit_starts_the_new_rate_and_keeps_the_decay(studio, qtbot, tmp_path, decaying):
    pane = trained_to(studio, qtbot, tmp_path / "run", decaying, 12)
    type_into(qtbot, pane.lr, "3e-4")
    assert pane.edits() == {"lr": pytest.approx(3e-4)}
    qtbot.mouseClick(pane.apply_button, Qt.MouseButton.LeftButton)
    record = last_schedule_record(studio, qtbot)
    assert (record["step"], record["lr"], record["decay"], record["every"]) == (12, pytest.approx(3e-4), 0.5, 10)


def test_the_preview_is_what_apply_does(studio, qtbot, tmp_path, decaying):
    pane = trained_to(studio, qtbot, tmp_path / "run", decaying, 15)
    type_into(qtbot, pane.every, "40")
    pane._last_draw = 0.0
    assert pane.refresh()
    xs, previewed = pane.preview_curve.getData()
    qtbot.mouseClick(pane.apply_button, Qt.MouseButton.LeftButton)
    last_schedule_record(studio, qtbot)
    applied = pane.segments()
    assert list(previewed) == pytest.approx([schedule.learning_rate(int(x), applied) for x in xs])


def test_after_apply_the_fields_follow_the_schedule_again(studio, qtbot, tmp_path, decaying):
    pane = trained_to(studio, qtbot, tmp_path / "run", decaying, 10)
    type_into(qtbot, pane.decay, "0.25")
    qtbot.mouseClick(pane.apply_button, Qt.MouseButton.LeftButton)
    last_schedule_record(studio, qtbot)
    assert pane.edits() == {}
    for _ in range(10):
        studio.step_once()
    qtbot.waitUntil(lambda: studio.history.step == 20, timeout=WAIT_MS)
    pane._last_draw = 0.0
    pane.refresh()
    assert pane.lr.value() == pytest.approx(1e-3 * 0.5 * 0.25)
