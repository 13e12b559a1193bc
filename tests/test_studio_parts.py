"""The studio's small parts: metrics history, tiling and boxes, the bridge, the timeline."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from drawstudio.studio.history import MetricsHistory, moving_average
from drawstudio.studio.tiles import box_paths, origin, signed_to_unit, tile
from drawstudio.train.snapshot import Attention


def train(step: int, loss: float = 1.0) -> dict:
    return {"kind": "train", "step": step, "loss": loss, "recon": loss, "kl": 0.0, "lr": 1e-3}


def test_history_drops_steps_a_resume_replays():
    history = MetricsHistory()
    history.extend([train(s) for s in range(1, 8)] + [{"kind": "eval", "step": 6, "nll": 90.0}])
    history.add({"kind": "resume", "step": 4, "checkpoint": "step-000000004.pt"})
    history.extend([train(5, 2.0), train(6, 2.0)])
    assert list(history.steps) == [1, 2, 3, 4, 5, 6]
    assert list(history.train["loss"].values[-2:]) == [2.0, 2.0]
    assert len(history.eval_step) == 0


def test_history_collects_schedule_changes_and_ignores_other_kinds():
    history = MetricsHistory()
    revision = history.revision
    history.add({"kind": "checkpoint", "step": 3, "file": "x"})
    assert history.revision == revision
    history.add({"kind": "schedule", "step": 3, "lr": 1e-4, "decay": 1.0, "every": 10})
    assert history.schedule_changes[0]["lr"] == 1e-4 and history.revision > revision


def test_moving_average_is_a_trailing_mean_that_skips_nan():
    values = np.array([1.0, 3.0, np.nan, 5.0, 7.0])
    assert np.allclose(moving_average(values, 2), [1.0, 2.0, 3.0, 5.0, 6.0])
    assert moving_average(values, 1) is values


def test_tile_places_each_image_at_its_origin_in_grey_and_colour():
    grey = np.random.rand(5, 1, 4, 6).astype(np.float32)
    colour = np.random.rand(3, 5, 3, 4, 6).astype(np.float32)
    x, y = origin(4, 3, 4, 6)
    assert np.array_equal(tile(grey, 3)[y:y + 4, x:x + 6], grey[4, 0])
    assert np.array_equal(tile(colour, 3)[2, y:y + 4, x:x + 6], colour[2, 4].transpose(1, 2, 0))
    assert tile(colour, 3).shape == (3, 11, 22, 3)


def test_box_paths_trace_attention_box_inside_the_examples_tile():
    ones = np.ones((2, 2), np.float32)
    attention = Attention(gx=ones * 10, gy=ones * 8, delta=ones * 2, sigma=ones, gamma=ones, n=3)
    xs, ys = box_paths(attention, columns=2, height=28, width=28)
    left, top, width, height = attention.box(1, 1)
    ox, oy = origin(1, 2, 28, 28)
    assert xs[1, 6:11].min() == pytest.approx(left + ox) and xs[1, 6:11].max() == pytest.approx(left + width + ox)
    assert ys[1, 6:11].min() == pytest.approx(top + oy) and ys[1, 6:11].max() == pytest.approx(top + height + oy)
    assert np.isnan(xs[1, 11])


def test_signed_values_map_zero_to_grey():
    mapped = signed_to_unit(np.array([-2.0, 0.0, 1.0]))
    assert list(mapped) == [0.0, 0.5, 0.75]


def test_bridge_delivers_records_from_another_thread_in_order_on_the_gui_thread(qtbot):
    from drawstudio.events import Event
    from drawstudio.studio.bridge import Bridge

    class Source:
        state_changed, metrics, snapshot_ready, error = (Event(n) for n in ("s", "m", "p", "e"))

    bridge = Bridge()
    source = Source()
    bridge.attach(source)
    received: list[dict] = []
    threads: list[threading.Thread] = []
    bridge.records.connect(lambda batch: (received.extend(batch), threads.append(threading.current_thread())))
    snapshots: list[int] = []
    bridge.snapshot_ready.connect(snapshots.append)

    def produce() -> None:
        for step in range(500):
            source.metrics.emit({"kind": "train", "step": step})
        for snapshot in (1, 2, 3):
            source.snapshot_ready.emit(snapshot)

    worker = threading.Thread(target=produce)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(received) == 500, timeout=5000)
    assert [r["step"] for r in received] == list(range(500))
    assert set(threads) == {threading.main_thread()}
    assert snapshots == [3]  # only the newest snapshot is drawn
    bridge.detach()
    source.metrics.emit({"kind": "train", "step": 999})
    qtbot.wait(50)
    assert len(received) == 500


def test_timeline_follows_the_finished_drawing_unless_scrubbed(qtbot):
    from drawstudio.studio.timeline import Timeline

    timeline = Timeline()
    timeline.set_length(8)
    assert timeline.t == 8
    timeline.set_t(3)
    timeline.set_length(16)
    assert timeline.t == 3
    timeline.set_t(99)
    assert timeline.t == 16
    timeline.loop = False
    timeline.set_fps(60)
    timeline.set_playing(True)
    assert timeline.t == 1
    qtbot.waitUntil(lambda: not timeline.playing, timeout=5000)
    assert timeline.t == 16


def test_capped_playback_skips_steps_but_keeps_its_speed(qtbot):
    from drawstudio.studio.timeline import Timeline

    timeline = Timeline()
    timeline.set_length(16)
    timeline.set_fps(8)
    uncapped = timeline._timer.interval()
    timeline.set_max_frame_rate(4)
    assert (timeline.stride, timeline._timer.interval()) == (2, 2 * uncapped)  # 4 frames/s, still 8 steps/s
    shown = []
    timeline.changed.connect(shown.append)
    timeline.set_t(13)
    for _ in range(3):
        timeline._advance()
    assert shown == [13, 15, 16, 1]  # the finished drawing is never skipped
    timeline.set_max_frame_rate(None)
    assert (timeline.stride, timeline._timer.interval()) == (1, uncapped)


def test_tile_pixels_are_opaque_rgb32_in_grey_and_colour():
    from drawstudio.studio.tiles import tile_pixels

    grey = np.array([0.0, 0.5, 1.0, 1.2, np.nan], np.float32).reshape(5, 1, 1, 1)
    assert list(tile_pixels(grey, 5)[1, 1::2]) == [0xFF000000, 0xFF808080, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF000000]
    red = np.zeros((1, 3, 1, 1), np.float32)
    red[0, 0] = 1.0
    assert tile_pixels(red, 1)[1, 1] == 0xFFFF0000


def test_redrawing_a_plot_keeps_its_references_to_none(qtbot):
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None in every call returning it,
    aborting the studio after a minute of live curves; pyproject excludes it."""
    import sys

    import pyqtgraph as pg

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.show()
    curve = widget.getPlotItem().plot()
    before = sys.getrefcount(None)
    for n in range(10, 60):
        curve.setData(np.arange(n), np.sin(np.arange(n)))
        widget.repaint()
    assert sys.getrefcount(None) >= before - 50


def test_trajectory_follows_the_centre_inside_its_own_tile():
    from drawstudio.studio.trajectory import centre_path
    from drawstudio.train.snapshot import Attention

    gx = np.array([[1.0, 5.5], [100.0, 0.5]], np.float32)  # (T=2, B=2): image 1 at t=2 looks far off the image
    gy = np.array([[2.0, 3.0], [-50.0, 8.0]], np.float32)
    ones = np.ones_like(gx)
    x, y = centre_path(Attention(gx, gy, ones, ones, ones, n=2), 1, columns=2, height=8, width=8)
    ox, oy = 1 + 8 + 1, 1  # image 1: second column of the first row
    np.testing.assert_allclose(x, [ox + 5.0, ox + 0.0])
    np.testing.assert_allclose(y, [oy + 2.5, oy + 7.5])
    x, y = centre_path(Attention(gx, gy, ones, ones, ones, n=2), 0, columns=2, height=8, width=8)
    np.testing.assert_allclose(x, [1 + 0.5, 1 + 8.0])  # clipped to the tile's right edge
    np.testing.assert_allclose(y, [1 + 1.5, 1 + 0.0])


def test_curves_mark_a_plateau_lowering_like_a_change_by_hand_and_say_which_it_was(qtbot):
    from drawstudio.studio.curves_pane import CurvesPane

    history = MetricsHistory()
    pane = CurvesPane(history)
    qtbot.addWidget(pane)
    history.extend([train(s) for s in range(1, 10)])
    history.add({"kind": "schedule", "step": 3, "lr": 5e-4, "decay": 1.0, "every": 10})
    history.add({"kind": "schedule", "step": 8, "lr": 2.5e-4, "decay": 1.0, "every": 10, "rule": "plateau",
                 "split": "valid", "best": 90.0})
    assert pane.refresh()
    assert [line.value() for line in pane.markers] == [3, 8]
    labels = [line.label.format for line in pane.markers]
    assert labels == ["lr 5.0e-04, ×1/10", "plateau: lr 2.5e-04, ×1/10"]


def test_learning_rate_pane_says_what_the_plateau_rule_will_do():
    from drawstudio.config import TrainConfig
    from drawstudio.studio.lr_pane import plateau_status

    def train(factor: float, patience: int) -> TrainConfig:
        return TrainConfig(plateau_factor=factor, plateau_patience=patience)

    assert plateau_status(train(0.5, 2), 1) == "plateau rule: ×0.5 after 2 evaluations without a new best (1 so far)"
    assert plateau_status(train(0.5, 0), 1) == plateau_status(train(1.0, 3), 0) == "plateau rule off"


def test_learning_rate_pane_draws_the_schedule_from_the_records_so_a_followed_run_shows_it(qtbot):
    from drawstudio.config import TrainConfig
    from drawstudio.studio.history import MetricsHistory
    from drawstudio.studio.lr_pane import LrPane

    history = MetricsHistory()
    pane = LrPane(history)
    qtbot.addWidget(pane)
    history.extend([{"kind": "train", "step": 400, "loss": 1.0, "recon": 1.0, "kl": 0.0, "lr": 1e-3},
                    {"kind": "schedule", "step": 200, "lr": 5e-4, "decay": 0.5, "every": 100},
                    {"kind": "eval", "split": "valid", "step": 400, "nll": 90.0, "plateau_stale": 1}])
    pane.set_run(TrainConfig(lr=1e-3, lr_decay=1.0, decay_every=1000, steps=1000), None)  # followed: no session
    assert not pane.apply_button.isEnabled()
    assert pane.lr.value() == pytest.approx(1.25e-4)  # 5e-4 halved twice by step 400
    assert (pane.decay.value(), pane.every.value()) == (0.5, 100)
    assert pane.refresh()
    xs, ys = pane.current_curve.getData()
    assert ys[0] == pytest.approx(1e-3) and ys[-1] == pytest.approx(5e-4 * 0.5 ** ((xs[-1] - 200) / 100))
    assert "now 1.25e-04 at step 400 (×0.5 every 100 steps) (followed" in pane.status.text()
    assert "(1 so far)" in pane.status.text()


def test_learning_rate_pane_draws_the_hold_before_the_decay_starts(qtbot):
    from drawstudio.config import TrainConfig
    from drawstudio.studio.history import MetricsHistory
    from drawstudio.studio.lr_pane import LrPane

    history = MetricsHistory()
    pane = LrPane(history)
    qtbot.addWidget(pane)
    history.extend([{"kind": "train", "step": 300, "loss": 1.0, "recon": 1.0, "kl": 0.0, "lr": 1e-3}])
    pane.set_run(TrainConfig(lr=1e-3, lr_decay=0.5, decay_every=100, decay_start=200, steps=1000), None)
    assert pane.lr.value() == pytest.approx(5e-4)  # flat until 200, halved once by 300
    assert pane.refresh()
    xs, ys = pane.current_curve.getData()
    assert all(y == pytest.approx(1e-3) for x, y in zip(xs, ys) if x <= 200)
    assert ys[-1] == pytest.approx(1e-3 * 0.5 ** ((xs[-1] - 200) / 100))


@pytest.mark.parametrize(("extra", "text"), [({"threads": 2}, "cpu (2 threads)"),
                                             ({"threads": 1, "ranks": 2}, "cpu (2 processes of 1 thread each)"),
                                             ({"threads": 2, "ranks": 1}, "cpu (2 threads)")])
def test_the_status_bar_says_how_many_processes_and_threads_train(qtbot, extra, text):
    from PySide6.QtWidgets import QStatusBar

    from drawstudio.studio.status import StatusFields
    from drawstudio.train.run_state import RunState

    bar = QStatusBar()
    qtbot.addWidget(bar)
    fields = StatusFields(bar)
    history = MetricsHistory()
    history.add({**train(1), "images_per_s": 100.0, "elapsed": 1.0, "epoch": 0.1, **extra})
    fields.update(RunState.RUNNING, history, "cpu")
    assert fields.labels["device"].text() == text


def test_a_trained_models_learning_rate_is_drawn_from_its_evaluations_when_it_ships_no_training_steps(qtbot):
    from drawstudio.studio.curves_pane import CurvesPane

    history = MetricsHistory()
    pane = CurvesPane(history)
    qtbot.addWidget(pane)
    history.extend([{"kind": "eval", "split": "test", "step": step, "nll": nll, "lr": lr}
                    for step, nll, lr in ((0, 550.0, 1e-3), (500, 120.0, 5e-4), (900, 100.0, 2.5e-4))])
    history.add({"kind": "eval", "split": "valid", "step": 900, "nll": 101.0, "lr": 2.5e-4})  # not the test curve
    assert pane.refresh()
    steps, lr = pane.lr_curve.getData()
    np.testing.assert_array_equal(steps, [0, 500, 900])
    np.testing.assert_allclose(lr, [1e-3, 5e-4, 2.5e-4])
