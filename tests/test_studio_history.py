"""The studio's training history: the training-step slider, live, the KL heatmap, the attention
trajectory (offscreen Qt, a run trained for 12 steps by the CLI: history at steps 1, 2, 5, 10)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from drawstudio.studio.tiles import tile_pixels
from drawstudio.studio.trajectory import centre_path
from drawstudio.train.history import read_history

pytestmark = pytest.mark.usefixtures("no_thread_left")


@pytest.fixture
def trained_run(tmp_path, tiny_train_argv):
    from drawstudio.cli.main import main

    run = tmp_path / "run"
    assert main(tiny_train_argv(run, "--steps", "12")) == 0
    return run


def redraw(studio) -> None:
    for _ in range(5):
        studio.render()


def stored(run, step: int):
    return next(e for e in read_history(run) if e.step == step).snapshot()


def test_reopened_run_lists_its_history_and_heatmaps_its_kl(studio, trained_run):
    assert studio.open_run(trained_run), studio.last_error
    steps = studio.training_steps.history
    assert steps.steps == [1, 2, 5, 10]
    assert steps.live and studio.canvas.snapshot.step == 12  # live: the resumed model
    image = studio.training_steps.heatmap.image.image
    expected = np.stack([stored(trained_run, s).kl_per_step for s in (1, 2, 5, 10)], axis=1)  # (T, kept)
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    assert "live" in studio.training_steps.bar.label.text()


def test_scrubbing_to_an_old_training_step_shows_its_canvas_and_live_returns(studio, trained_run):
    assert studio.open_run(trained_run), studio.last_error
    bar = studio.training_steps.bar
    bar.slider.setValue(0)
    redraw(studio)
    old = stored(trained_run, 1)
    assert studio.canvas.snapshot.step == 1 and not bar.live.isChecked()
    T = old.T
    assert studio.timeline.t == T
    np.testing.assert_array_equal(studio.canvas.right.frame, tile_pixels(old.reconstructions[T - 1], 4))
    studio.timeline.set_t(2)
    redraw(studio)
    np.testing.assert_array_equal(studio.canvas.right.frame, tile_pixels(old.reconstructions[1], 4))
    assert "1 / 4" in bar.label.text()
    assert "not kept" in studio.glimpses.views[0].label.text
    bar.live.click()
    redraw(studio)
    assert studio.canvas.snapshot.step == 12 and studio.training_steps.history.live


def test_clicking_a_heatmap_cell_moves_both_sliders(studio, qtbot, trained_run):
    assert studio.open_run(trained_run), studio.last_error
    heatmap = studio.training_steps.heatmap
    studio.docks["heatmap"].raise_()
    qtbot.waitUntil(lambda: heatmap.plot.isVisible()  # laid out: the image fits in the widget
                    and 0 < heatmap.image.sceneBoundingRect().width() < heatmap.plot.width())
    scene = heatmap.image.mapToScene(QPointF(2.5, 1.5))  # column 2 (step 5), row 1 (t = 2)
    qtbot.mouseClick(heatmap.plot.viewport(), Qt.MouseButton.LeftButton, pos=heatmap.plot.mapFromScene(scene))
    assert studio.training_steps.bar.slider.value() == 2
    assert studio.canvas.slider.value() == 2
    redraw(studio)
    assert studio.canvas.snapshot.step == 5
    np.testing.assert_array_equal(studio.canvas.right.frame,
                                  tile_pixels(stored(trained_run, 5).reconstructions[1], 4))


def test_attention_trajectory_draws_the_chosen_images_centres_and_toggles_off(studio, trained_run):
    assert studio.open_run(trained_run), studio.last_error
    canvas = studio.canvas
    redraw(studio)
    canvas.show_trajectory.setChecked(True)
    canvas.trajectory_image.setValue(3)
    redraw(studio)
    snapshot = canvas.snapshot
    expected = centre_path(snapshot.write, 2, 4, 28, 28)
    line = canvas.trajectory.lines["write"]
    assert line.isVisible()
    np.testing.assert_allclose(line.xData, expected[0])
    np.testing.assert_allclose(line.yData, expected[1])
    # image 3 sits in the third column of the first row: its path is right of images 1 and 2
    assert 2 * 29 < np.nanmean(canvas.trajectory.lines["read"].xData) < 4 * 29
    canvas.show_trajectory.setChecked(False)
    assert not line.isVisible() and not canvas.trajectory.lines["read"].isVisible()


def legend_names(studio) -> list[str]:
    return studio.curves.plot.getPlotItem().legend.names()


def test_reference_run_appears_named_disappears_when_removed_and_is_remembered(studio, qtbot, tmp_path, trained_run):
    from PySide6.QtCore import QSettings

    from drawstudio.studio.main_window import MainWindow

    references = studio.curves.references
    references.add(trained_run)
    name = "run: loss (reference)"
    assert name in legend_names(studio)
    curve, _ = references.runs[str(trained_run)]
    assert list(curve.xData) == list(range(1, 13))  # its 12 logged steps, read from its metrics
    assert curve in studio.curves.plot.getPlotItem().listDataItems()
    references.remove(str(trained_run))
    assert name not in legend_names(studio)
    assert curve not in studio.curves.plot.getPlotItem().listDataItems()

    references.add(trained_run)
    studio.close()  # saves the settings
    again = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.curves.references.paths() == [str(trained_run)]
    assert name in legend_names(again)
    again.close()


def test_a_folder_that_is_not_a_run_is_refused_as_a_reference_with_the_reason(studio, tmp_path):
    from drawstudio.errors import RunDirError

    with pytest.raises(RunDirError, match="not a run directory"):
        studio.curves.references.add(tmp_path)
    assert studio.curves.references.paths() == []


def test_live_snapshots_show_at_once_wait_while_scrubbed_and_live_shows_the_newest(studio, trained_run):
    assert studio.open_run(trained_run), studio.last_error
    steps = studio.training_steps
    newer, newest = stored(trained_run, 5), stored(trained_run, 10)  # stand-ins for snapshots of training
    steps.offer_live(newer)
    redraw(studio)
    assert studio.canvas.snapshot is newer
    steps.bar.slider.setValue(0)
    steps.offer_live(newest)
    redraw(studio)
    assert studio.canvas.snapshot.step == 1  # scrubbed: live snapshots do not pull the view away
    steps.bar.live.click()
    redraw(studio)
    assert studio.canvas.snapshot is newest


def test_new_history_files_are_read_off_the_gui_thread_and_merged_on_it(studio, qtbot, trained_run, monkeypatch,
                                                                         tiny_train_argv):
    import threading

    from drawstudio.cli.main import main
    from drawstudio.train import history

    assert studio.open_run(trained_run), studio.last_error
    studio.close_run()
    assert main(tiny_train_argv(trained_run, "--steps", "22")) == 0  # another process trains it on: step 20 kept
    follow = studio.training_steps
    follow.set_run(trained_run)
    history.snapshot_path(trained_run, 20).rename(trained_run / "held-back.npz")
    follow.set_run(trained_run)
    assert 20 not in follow.history.steps
    read_on = []
    load = history.load_entry
    monkeypatch.setattr(history, "load_entry",
                        lambda path: read_on.append(threading.current_thread().name) or load(path))
    (trained_run / "held-back.npz").rename(history.snapshot_path(trained_run, 20))
    follow.poll_in_background()
    qtbot.waitUntil(lambda: 20 in follow.history.steps, timeout=10_000)
    assert read_on == ["drawstudio-history"]
    follow.set_run(None)
