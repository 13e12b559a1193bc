"""The canvas pane draws the attention boxes of the drawing step the user scrubbed to, and
exports exactly the pixels it shows."""

import numpy as np
from PIL import Image

from drawstudio.train.snapshot import Attention, Snapshot

T, SIZE = 3, 8


def attention(gx: list[float], gy: list[float], delta: float, n: int, batch: int = 1) -> Attention:
    steps = np.ones((T, batch), np.float32)
    return Attention(np.array(gx, np.float32)[:, None] * steps, np.array(gy, np.float32)[:, None] * steps,
                     delta * steps, steps, steps, n)


def one_image_snapshot() -> Snapshot:
    canvases = np.linspace(0, 1, T * SIZE * SIZE, dtype=np.float32).reshape(T, 1, 1, SIZE, SIZE)
    return snapshot_of(canvases)


def snapshot_of(canvases: np.ndarray) -> Snapshot:
    """A snapshot whose reconstructions and samples are `canvases` (T, B, 1, SIZE, SIZE)."""
    batch = canvases.shape[1]
    return Snapshot(
        step=7, originals=np.zeros((batch, 1, SIZE, SIZE), np.float32), labels=None, reconstructions=canvases,
        # read: N=2, δ=1 → a 2-pixel box from g − 1.5; write: N=1, δ=2 → a 2-pixel box from g − 1.5
        read=attention([2.0, 4.0, 6.0], [3.0, 5.0, 7.0], 1.0, 2, batch),
        write=attention([5.0, 3.0, 2.0], [2.0, 6.0, 4.0], 2.0, 1, batch),
        read_glimpses=np.zeros((T, batch, 2, 1, 2, 2), np.float32),
        write_patches=np.zeros((T, batch, 1, 1, 1), np.float32), samples=canvases, sample_write=None,
        sample_labels=None, kl_per_step=np.zeros(T, np.float32))


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


def grey_levels(frame: np.ndarray) -> np.ndarray:
    """The grey level 0..255 of the canvas's 0xffRRGGBB pixels (R = G = B for grey images)."""
    assert np.array_equal(frame >> 16 & 0xFF, frame & 0xFF)
    return (frame & 0xFF).astype(np.uint8)


def test_exported_png_and_gif_hold_the_pixels_the_canvas_shows(studio, tmp_path):
    canvases = np.random.default_rng(3).random((T, 3, 1, SIZE, SIZE), dtype=np.float32)  # 3 images: 2 columns
    studio._on_snapshot(snapshot_of(canvases))
    studio.canvas.refresh()
    studio.timeline.set_t(2)
    studio.canvas.refresh()
    shown = grey_levels(studio.canvas.right.frame)
    studio.exports.png(tmp_path / "grid.png")
    studio.exports.gif(tmp_path / "drawing.gif")

    png = np.asarray(Image.open(tmp_path / "grid.png").convert("L"))
    scale = png.shape[0] // shown.shape[0]  # the export enlarges each pixel to a square
    assert png.shape == (shown.shape[0] * scale, shown.shape[1] * scale)
    assert np.array_equal(png[::scale, ::scale], shown)  # step 2, where the canvas was scrubbed to
    gif = Image.open(tmp_path / "drawing.gif")
    assert gif.n_frames == T
    for t in range(T):
        gif.seek(t)
        frame = np.asarray(gif.convert("L"))[::scale, ::scale]
        assert np.array_equal(frame, grey_levels(studio.canvas.frames.right[t])), f"frame {t + 1}"
