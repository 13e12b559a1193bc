"""The studio on every kind of run the command matrix walks (tests/run_kinds.py): open it, draw
samples (of one class, for a conditional run), export the grid, the animation and the metrics,
and compute the test NLL now — each with its result in the window and no error shown."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from PIL import Image
from run_kinds import KINDS

from drawstudio.studio.canvas_pane import SAMPLES, SAMPLES_PER_CLASS
from drawstudio.train.metrics import read_metrics

pytestmark = pytest.mark.usefixtures("no_thread_left")
WAIT_MS = 30_000


@pytest.mark.parametrize("kind_name", KINDS)
def test_studio_opens_samples_exports_and_tests_every_kind_of_run(kind_name, studio, qtbot, run_kind_template,
                                                                   tmp_path):
    kind = KINDS[kind_name]
    run = Path(shutil.copytree(run_kind_template(kind_name), tmp_path / "run"))
    assert studio.open_run(run), studio.last_error
    assert studio.canvas.snapshot.step == 2

    studio.canvas.mode.setCurrentIndex(studio.canvas.mode.findData(SAMPLES))
    if kind.conditional:
        studio.canvas.class_picker.setCurrentIndex(studio.canvas.class_picker.findData(1))
        studio.canvas.class_picker.activated.emit(studio.canvas.class_picker.currentIndex())
    studio.step_once()
    qtbot.waitUntil(lambda: studio.canvas.snapshot.step == 3, timeout=WAIT_MS)
    snapshot = studio.canvas.snapshot
    if kind.conditional:
        assert snapshot.sample_labels.tolist() == [1] * SAMPLES_PER_CLASS ** 2
    else:
        assert snapshot.sample_labels is None

    studio.exports.png(tmp_path / "out" / "grid.png")
    studio.exports.gif(tmp_path / "out" / "draw.gif")
    studio.exports.csv(tmp_path / "out" / "metrics.csv")
    assert Image.open(tmp_path / "out" / "grid.png").mode == ("RGB" if "--channels" in kind.flags else "L")
    assert Image.open(tmp_path / "out" / "draw.gif").n_frames == 2
    assert "step" in (tmp_path / "out" / "metrics.csv").read_text().splitlines()[0]

    studio.evaluate_now()
    qtbot.waitUntil(lambda: any(r["kind"] == "eval" for r in read_metrics(run / "metrics.jsonl")), timeout=WAIT_MS)
    found = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "eval"][-1]
    assert found["step"] == 3 and found["images"] == kind.test_images and math.isfinite(found["nll"])
    qtbot.waitUntil(lambda: len(studio.history.eval_nll) == 1, timeout=WAIT_MS)
    assert studio.last_error == ""
