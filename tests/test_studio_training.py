"""The studio driving a real training run through its widgets (offscreen Qt)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from drawstudio.studio.canvas_pane import SAMPLES_PER_CLASS
from drawstudio.studio.tiles import tile_pixels
from drawstudio.train import checkpoint as ckpt
from drawstudio.train import session as states

pytestmark = pytest.mark.usefixtures("no_thread_left")
WAIT_MS = 30_000


def open_and_train(studio, qtbot, run_dir, config, steps: int = 5) -> None:
    assert studio.open_run(run_dir, config), studio.last_error
    studio.toggle_training()
    qtbot.waitUntil(lambda: len(studio.history) >= steps, timeout=WAIT_MS)


def redraw_every_pane(studio) -> None:
    """The window redraws one pane per tick of its timer; run enough ticks for all of them."""
    for _ in range(5):
        studio.render()


def plotted_steps(studio) -> np.ndarray:
    x = studio.curves.curves["loss"].xData
    return np.zeros(0) if x is None else x


def shown_canvas(studio) -> np.ndarray:
    return studio.canvas.right.frame


def canvas_at(snapshot, t: int) -> np.ndarray:
    """What the canvas pane shows of `snapshot`'s reconstructions at step t (a 4-column grid)."""
    return tile_pixels(snapshot.reconstructions[t - 1], 4)


def test_training_grows_the_curves_and_redraws_the_canvas(studio, qtbot, tmp_path, tiny_config):
    assert studio.open_run(tmp_path / "run", tiny_config)
    untrained = studio.canvas.snapshot
    assert untrained.step == 0  # the untrained model's drawing is there before the first step
    studio.toggle_training()
    qtbot.waitUntil(lambda: studio.canvas.snapshot.step >= 5 and len(studio.history) >= 5, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(plotted_steps(studio)) >= 5, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: studio.canvas.frames is not None
                    and studio.canvas.frames.steps is studio.canvas.snapshot.reconstructions, timeout=WAIT_MS)
    snapshot = studio.canvas.snapshot
    qtbot.waitUntil(lambda: np.array_equal(shown_canvas(studio), canvas_at(snapshot, snapshot.T)),
                    timeout=WAIT_MS)
    assert studio.state == states.RUNNING
    assert "step" in studio.status.labels["step"].text()
    assert len(studio.curves.kl_bars.opts["height"]) == tiny_config.model.T


def test_timestep_slider_shows_that_steps_canvas(studio, qtbot, tmp_path, tiny_config):
    assert studio.open_run(tmp_path / "run", tiny_config)
    snapshot = studio.canvas.snapshot
    redraw_every_pane(studio)
    assert studio.canvas.slider.maximum() == tiny_config.model.T
    studio.canvas.slider.setValue(2)
    qtbot.waitUntil(lambda: np.array_equal(shown_canvas(studio), canvas_at(snapshot, 2)),
                    timeout=WAIT_MS)
    assert not np.array_equal(shown_canvas(studio), canvas_at(snapshot, snapshot.T))
    assert studio.canvas.step_label.text() == "t = 2 / 4"


def test_animation_shows_fewer_frames_while_training_and_hidden_panes_are_not_redrawn(
        studio, qtbot, tmp_path, tiny_config):
    from drawstudio.studio.main_window import TRAINING_FRAME_RATE

    open_and_train(studio, qtbot, tmp_path / "run", tiny_config, steps=1)
    studio.canvas.fps.setValue(3 * TRAINING_FRAME_RATE)
    assert studio.timeline.stride == 3
    studio.docks["glimpses"].hide()
    redraw_every_pane(studio)
    drawn = studio.glimpses.frames
    studio.glimpses.mark_stale()  # as a new snapshot would
    redraw_every_pane(studio)
    assert studio.glimpses.frames is drawn  # not laid out while it cannot be seen
    studio.docks["glimpses"].show()
    qtbot.waitUntil(lambda: studio.glimpses.frames is not drawn, timeout=WAIT_MS)
    studio.toggle_training()
    qtbot.waitUntil(lambda: studio.state == states.PAUSED, timeout=WAIT_MS)
    assert studio.timeline.stride == 1


def test_arrow_keys_move_the_timestep_and_space_starts_and_pauses(studio, qtbot, tmp_path, tiny_config):
    assert studio.open_run(tmp_path / "run", tiny_config)
    redraw_every_pane(studio)
    studio.activateWindow()
    qtbot.keyClick(studio, Qt.Key.Key_Left)
    assert studio.timeline.t == tiny_config.model.T - 1
    qtbot.keyClick(studio, Qt.Key.Key_Right)
    assert studio.timeline.t == tiny_config.model.T
    qtbot.keyClick(studio, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: studio.state == states.RUNNING, timeout=WAIT_MS)
    qtbot.keyClick(studio, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: studio.state == states.PAUSED, timeout=WAIT_MS)


def test_learning_rate_change_reaches_the_optimizer_mid_training(studio, qtbot, tmp_path, tiny_config):
    open_and_train(studio, qtbot, tmp_path / "run", tiny_config)
    optimizer = studio.run.session.trainer.optimizer
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    studio.lr_pane.lr.setValue(2.5e-4)
    qtbot.mouseClick(studio.lr_pane.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: math.isclose(optimizer.param_groups[0]["lr"], 2.5e-4, rel_tol=1e-6), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(studio.history.schedule_changes), timeout=WAIT_MS)
    assert studio.history.schedule_changes[-1]["lr"] == pytest.approx(2.5e-4)
    qtbot.waitUntil(lambda: any(line.isVisible() for line in studio.curves.markers), timeout=WAIT_MS)
    assert studio.curves.markers[0].value() == studio.history.schedule_changes[-1]["step"]


def test_pause_holds_the_step_and_resume_continues(studio, qtbot, tmp_path, tiny_config):
    open_and_train(studio, qtbot, tmp_path / "run", tiny_config)
    studio.menu_actions.start_action.trigger()
    qtbot.waitUntil(lambda: studio.state == states.PAUSED, timeout=WAIT_MS)
    trainer = studio.run.session.trainer
    held = trainer.step
    qtbot.wait(300)
    assert trainer.step == held
    studio.menu_actions.start_action.trigger()
    qtbot.waitUntil(lambda: trainer.step > held + 2, timeout=WAIT_MS)
    assert studio.state == states.RUNNING


def test_exports_write_gif_png_and_csv(studio, qtbot, tmp_path, tiny_config):
    open_and_train(studio, qtbot, tmp_path / "run", tiny_config)
    redraw_every_pane(studio)
    studio.exports.gif(tmp_path / "out" / "drawing.gif")
    studio.exports.png(tmp_path / "out" / "grid.png")
    studio.exports.csv(tmp_path / "out" / "metrics.csv")
    with Image.open(tmp_path / "out" / "drawing.gif") as gif:
        assert gif.n_frames == tiny_config.model.T
    with Image.open(tmp_path / "out" / "grid.png") as png:
        assert png.width > 28
    lines = (tmp_path / "out" / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("kind,step") and len(lines) > 5


def test_closing_checkpoints_and_reopening_resumes(studio, qtbot, tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    open_and_train(studio, qtbot, run_dir, tiny_config)
    studio.close_run()
    saved = ckpt.list_checkpoints(run_dir)
    assert saved
    saved_step = int(saved[0].stem.split("-")[1])
    assert studio.open_run(run_dir)
    trainer = studio.run.session.trainer
    assert trainer.resumed_from == saved[0] and trainer.step == saved_step
    assert len(studio.history) >= saved_step  # the curves of the earlier session are back
    studio.toggle_training()
    qtbot.waitUntil(lambda: trainer.step > saved_step, timeout=WAIT_MS)
    assert run_dir.as_posix() in studio.saved.recent_runs()


def test_reopened_run_shows_kl_per_step_before_training_again(studio, qtbot, tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    open_and_train(studio, qtbot, run_dir, tiny_config)
    studio.close_run()
    assert studio.open_run(run_dir)

    def bars_drawn() -> bool:
        heights = studio.curves.kl_bars.opts["height"]
        return heights is not None and len(heights) == tiny_config.model.T

    qtbot.waitUntil(bars_drawn, timeout=WAIT_MS)
    assert studio.run.session.state != states.RUNNING


def test_stop_then_start_reopens_and_resumes(studio, qtbot, tmp_path, tiny_config):
    open_and_train(studio, qtbot, tmp_path / "run", tiny_config)
    studio.menu_actions.stop_action.trigger()
    qtbot.waitUntil(lambda: studio.state == states.STOPPED, timeout=WAIT_MS)
    stopped_at = studio.run.session.trainer.step
    studio.toggle_training()
    qtbot.waitUntil(lambda: studio.run.session.trainer.step > stopped_at, timeout=WAIT_MS)
    assert studio.run.session.trainer.resumed_from is not None


def test_nonfinite_loss_pauses_with_a_message_and_training_continues_after_lowering_lr(
        studio, qtbot, tmp_path, tiny_config):
    open_and_train(studio, qtbot, tmp_path / "run", tiny_config)
    trainer = studio.run.session.trainer
    clean_batch = trainer.batch

    def poisoned_batch():
        trainer.batch = clean_batch  # only this one batch
        x, labels = clean_batch()
        return x * float("nan"), labels

    trainer.batch = poisoned_batch
    qtbot.waitUntil(lambda: studio.state == states.PAUSED, timeout=WAIT_MS)
    assert "not finite" in studio.last_error
    assert "not finite" in studio.statusBar().currentMessage()
    assert studio._message_box.isVisible() and not studio._message_box.isModal()
    held = trainer.step
    studio.lr_pane.lr.setValue(1e-4)
    studio.lr_pane.apply()
    studio.toggle_training()
    qtbot.waitUntil(lambda: trainer.step > held + 2, timeout=WAIT_MS)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_engine_errors_show_as_messages_and_the_window_lives_on(studio, qtbot, tmp_path, tiny_config):
    assert not studio.open_run(tmp_path / "missing")
    assert "not a run directory" in studio.last_error or "no such run directory" in studio.last_error
    broken = tmp_path / "broken"
    tiny_config.save_dir = None
    broken.mkdir()
    tiny_config.save(broken / "config.json")
    ckpt.checkpoint_dir(broken).mkdir()
    ckpt.checkpoint_path(broken, 7).write_bytes(b"not a checkpoint")
    assert not studio.open_run(broken)
    assert "step-000000007.pt" in studio.last_error
    tiny_config.train.dataset = "no-such-dataset"
    assert not studio.open_run(tmp_path / "new", tiny_config)
    assert "no-such-dataset" in studio.last_error
    assert studio.isVisible() and studio.run is None


def test_conditional_run_offers_a_class_picker_for_the_samples_with_rows_named(
        studio, qtbot, tmp_path, tiny_config):
    tiny_config.model.num_classes = 10
    assert studio.open_run(tmp_path / "run", tiny_config)
    canvas = studio.canvas
    canvas.mode.setCurrentIndex(canvas.mode.findData("samples"))
    assert canvas.class_picker.isVisible()
    redraw_every_pane(studio)
    assert list(canvas.snapshot.sample_labels) == [k for k in range(10) for _ in range(SAMPLES_PER_CLASS)]

    def captions() -> list[str]:
        return [item.textItem.toPlainText() for item in canvas.left._captions if item.isVisible()]

    assert captions() == [str(k) for k in range(10)]  # MNIST's class names are its digits
    canvas.class_picker.setCurrentIndex(canvas.class_picker.findData(7))
    canvas.class_picker.activated.emit(canvas.class_picker.currentIndex())
    studio.toggle_training()
    qtbot.waitUntil(lambda: set(canvas.snapshot.sample_labels) == {7}, timeout=WAIT_MS)
    redraw_every_pane(studio)
    assert captions() == ["7"]
    canvas.mode.setCurrentIndex(canvas.mode.findData("reconstructions"))
    redraw_every_pane(studio)
    assert captions() == []


def test_colour_images_are_drawn_in_colour(studio, qtbot, tmp_path, tiny_config):
    folder = tmp_path / "colour"
    rng = np.random.default_rng(0)
    for index in range(24):
        (folder / f"class{index % 2}").mkdir(parents=True, exist_ok=True)
        pixels = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"class{index % 2}" / f"{index}.png")
    tiny_config.model.channels, tiny_config.model.height, tiny_config.model.width = 3, 16, 16
    tiny_config.model.likelihood = "logistic"
    tiny_config.train.dataset, tiny_config.train.binarize, tiny_config.train.batch_size = str(folder), "none", 8
    assert studio.open_run(tmp_path / "run", tiny_config), studio.last_error
    redraw_every_pane(studio)
    for pixels in (shown_canvas(studio), *(view.frame for view in studio.glimpses.views)):
        assert ((pixels >> 16) & 255 != (pixels >> 8) & 255).any()  # red differs from green somewhere
    studio.exports.gif(tmp_path / "colour.gif")
    assert (tmp_path / "colour.gif").stat().st_size > 0


def test_where_the_ranks_rule_chooses_ranks_the_studio_trains_on_them_and_says_so(
        studio, qtbot, tmp_path, tiny_config, monkeypatch):
    from test_rank_team import workers

    monkeypatch.setattr(states, "automatic", lambda config: (2, 1, ": the rule's reason"))
    tiny_config.train.log_every = 5
    open_and_train(studio, qtbot, tmp_path / "run", tiny_config)
    qtbot.waitUntil(lambda: studio.status.labels["device"].text() == "cpu (2 processes of 1 thread each)",
                    timeout=WAIT_MS)
    assert len(workers()) == 1
    studio.close_run()
    assert not workers() and not studio.last_error
