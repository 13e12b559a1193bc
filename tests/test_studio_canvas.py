"""The canvas pane draws the attention boxes of the drawing step the user scrubbed to."""

import numpy as np

from drawstudio.train.snapshot import Attention, Snapshot

T, SIZE = 3, 8


def attention(gx: list[float], gy: list[float], delta: float, n: int) -> Attention:
    steps = np.ones((T, 1), np.float32)
    return Attention(np.array(gx, np.float32)[:, None], np.array(gy, np.float32)[:, None], delta * steps, steps,
                     steps, n)


def one_image_snapshot() -> Snapshot:
    canvases = np.linspace(0, 1, T * SIZE * SIZE, dtype=np.float32).reshape(T, 1, 1, SIZE, SIZE)
    return Snapshot(
        step=7, originals=np.zeros((1, 1, SIZE, SIZE), np.float32), labels=None, reconstructions=canvases,
        # read: N=2, δ=1 → a 2-pixel box from g − 1.5; write: N=1, δ=2 → a 2-pixel box from g − 1.5
        read=attention([2.0, 4.0, 6.0], [3.0, 5.0, 7.0], 1.0, 2),
        write=attention([5.0, 3.0, 2.0], [2.0, 6.0, 4.0], 2.0, 1),
        read_glimpses=np.zeros((T, 1, 2, 1, 2, 2), np.float32), write_patches=np.zeros((T, 1, 1, 1, 1), np.float32),
        samples=canvases, sample_write=None, sample_labels=None, kl_per_step=np.zeros(T, np.float32))


def box_corners(view, name: str) -> tuple[float, float, float, float]:
    x, y = view._outlines[name].getData()
    return float(x[0]), float(y[0]), float(x[1]), float(y[2])  # x0, y0, x1, y1 of the one tile


def test_scrubbing_to_step_t_draws_the_read_and_write_boxes_of_step_t(qtbot):
    from drawstudio.studio.canvas_pane import CanvasPane
    from drawstudio.studio.tiles import PAD
    from drawstudio.studio.timeline import Timeline

    timeline = Timeline()
    pane = CanvasPane(timeline)
    qtbot.addWidget(pane)
    pane.set_snapshot(one_image_snapshot())
    pane.refresh()
    expected = {  # t: (read box, write box) as x0, y0, x1, y1 in tile pixels (the tile starts at PAD)
        1: ((0.5, 1.5, 2.5, 3.5), (3.5, 0.5, 5.5, 2.5)),
        2: ((2.5, 3.5, 4.5, 5.5), (1.5, 4.5, 3.5, 6.5)),
        3: ((4.5, 5.5, 6.5, 7.5), (0.5, 2.5, 2.5, 4.5)),
    }
    for t in (2, 1, 3):
        timeline.set_t(t)
        pane.refresh()
        read, write = ([v + PAD for v in box] for box in expected[t])
        assert box_corners(pane.right, "read") == tuple(read), f"t={t}"
        assert box_corners(pane.left, "read") == tuple(read), f"t={t}"
        assert box_corners(pane.right, "write") == tuple(write), f"t={t}"
        assert np.array_equal(pane.right.frame, pane.frames.right[t - 1])
