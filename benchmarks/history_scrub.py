"""How long a redraw takes when scrubbing the training history in the studio, at the paper's
sizes (T=64, 16+16 images of 28×28, 24 kept training steps), offscreen.

    python benchmarks/history_scrub.py [--repeats 3]

Times, from the slider move to the canvas pane's redraw done (pyqtgraph item updates; the
paint itself is Qt's and is the same as for a live snapshot):
  training step   move s: decode the kept snapshot (unless among the last 8 shown) and lay
                  all T canvases out; every kept step in turn, --repeats times
  drawing step    move t at a fixed training step, over every t
and prints the median, the 90th percentile and the worst of each (the worst is the first
paint of the pane, and whatever else the machine was doing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from drawstudio.studio.app import configure_pyqtgraph  # noqa: E402
from drawstudio.studio.canvas_pane import CanvasPane  # noqa: E402
from drawstudio.studio.timeline import Timeline  # noqa: E402
from drawstudio.studio.training_steps import TrainingSteps  # noqa: E402
from drawstudio.train.history import HistoryWriter  # noqa: E402
from drawstudio.train.snapshot import Attention, Snapshot  # noqa: E402

T, N, SIZE, KEPT = 64, 16, 28, 24


def paper_snapshot(step: int, rng: np.random.Generator) -> Snapshot:
    def attention(n: int) -> Attention:
        return Attention(*(rng.uniform(1, SIZE, (T, N)).astype(np.float32) for _ in range(5)), n=n)

    def canvases() -> np.ndarray:
        return rng.random((T, N, 1, SIZE, SIZE), np.float32)

    return Snapshot(step=step, originals=rng.random((N, 1, SIZE, SIZE), np.float32), labels=None,
                    reconstructions=canvases(), read=attention(2), write=attention(5),
                    read_glimpses=np.zeros((T, N, 2, 1, 2, 2), np.float32),
                    write_patches=np.zeros((T, N, 1, 5, 5), np.float32), samples=canvases(),
                    sample_write=attention(5), sample_labels=None, kl_per_step=rng.random(T).astype(np.float32))


def milliseconds(times: list[float]) -> str:
    p90 = float(np.percentile(times, 90))
    return f"median {statistics.median(times) * 1000:.1f} ms, 90% {p90 * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    configure_pyqtgraph()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        writer = HistoryWriter(Path(folder), resumed_step=0, budget=10**12)
        for index in range(KEPT):
            writer.write(paper_snapshot(1000 * (index + 1), rng))
        timeline = Timeline()
        steps = TrainingSteps(timeline)
        pane = CanvasPane(timeline, steps.bar)
        steps.shown.connect(pane.set_snapshot)
        pane.resize(1000, 700)
        pane.show()
        steps.set_run(Path(folder))
        steps.timer.stop()
        training, drawing = [], []
        for _ in range(args.repeats):
            for index in range(KEPT):
                start = time.perf_counter()
                steps.bar.slider.setValue(index)
                pane.refresh()
                training.append(time.perf_counter() - start)
                app.processEvents()
        for t in range(1, T + 1):
            start = time.perf_counter()
            timeline.set_t(t)
            pane.refresh()
            drawing.append(time.perf_counter() - start)
            app.processEvents()
        steps.set_run(None)
    print(f"training step: {milliseconds(training)}")
    print(f"drawing step:  {milliseconds(drawing)}")


if __name__ == "__main__":
    main()
