"""Following a run that another process trains: the curves grow as it appends and the
canvas comes from its newest checkpoint, while the studio writes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from held_writer import HeldWriter
from PySide6.QtCore import Qt

pytestmark = pytest.mark.usefixtures("no_thread_left")
REPO = Path(__file__).resolve().parents[1]
WAIT_MS = 60_000


def train_command(run_dir: Path, steps: int) -> list[str]:
    """Resume the run in another process (its model comes from the run's config)."""
    return [sys.executable, "-m", "drawstudio", "train", "--run", str(run_dir), "--steps", str(steps),
            "--autosave", "0.5", "--quiet"]


def start_run(run_dir: Path, config, steps: int) -> None:
    """The first steps of the run, trained here (one torch start-up less than a subprocess)."""
    from drawstudio.train.trainer import Trainer

    trainer = Trainer(config, run_dir)
    for _ in range(steps):
        trainer.advance()
    trainer.save_checkpoint()
    trainer.close()


def test_followed_run_grows_as_another_process_appends(studio, qtbot, tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    start_run(run_dir, tiny_config, 5)
    before = (run_dir / "metrics.jsonl").read_bytes()
    assert studio.follow_run(run_dir), studio.last_error
    qtbot.waitUntil(lambda: len(studio.history) == 5 and studio.canvas.snapshot is not None, timeout=WAIT_MS)
    assert studio.canvas.snapshot.step == 5
    assert studio.training_steps.history.steps == [1, 2, 5]  # the training history, as the run kept it
    assert not studio.lr_pane.apply_button.isEnabled() and not studio.menu_actions.start_action.isEnabled()

    writer = subprocess.Popen(train_command(run_dir, 40), cwd=REPO)
    try:
        qtbot.waitUntil(lambda: len(studio.history) >= 40, timeout=WAIT_MS)
        assert writer.wait(timeout=120) == 0
    finally:
        writer.kill()
    qtbot.waitUntil(lambda: studio.canvas.snapshot.step == 40, timeout=WAIT_MS)
    assert list(studio.history.steps[-3:]) == [38, 39, 40]
    qtbot.waitUntil(lambda: studio.training_steps.history.steps == [1, 2, 5, 10, 20], timeout=WAIT_MS)
    assert (run_dir / "metrics.jsonl").read_bytes().startswith(before)  # only the other process appended


def test_opening_a_run_another_process_trains_offers_to_follow_it_instead(studio, qtbot, tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    start_run(run_dir, tiny_config, 5)
    with HeldWriter(train_command(run_dir, 12)[3:], tmp_path / "writer", hold_at=8) as writer:
        writer.wait_until_held()
        held = (run_dir / "metrics.jsonl").read_bytes()
        assert not studio.open_run(run_dir)
        offer = studio.follow_offer
        assert offer.isVisible() and not offer.isModal() and studio.run is None
        assert f"{run_dir}: already being trained by pid {writer.pid} " in offer.text()
        assert (run_dir / "metrics.jsonl").read_bytes() == held  # the refused studio wrote nothing

        qtbot.mouseClick(offer.follow_button, Qt.MouseButton.LeftButton)
        assert studio.run is not None and studio.run.read_only and studio.windowTitle().endswith("(following)")
        qtbot.waitUntil(lambda: studio.history.step == 8, timeout=WAIT_MS)
        assert writer.finish() == 0, writer.output()
    qtbot.waitUntil(lambda: studio.history.step == 12 and studio.canvas.snapshot.step == 12, timeout=WAIT_MS)
    assert (run_dir / "metrics.jsonl").read_bytes().startswith(held)
