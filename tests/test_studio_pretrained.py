"""A trained model in the studio: offered on the first screen, opened read-only with its
drawing and its learning curve, and made into a new run without its shipped file changing."""

from __future__ import annotations

from pathlib import Path

import pytest

from drawstudio.pretrained.catalog import available, find
from drawstudio.train.run_state import RunState

pytestmark = pytest.mark.usefixtures("no_thread_left")
WAIT_MS = 60_000
SHIPPED = [model.name for model in available()]


def _data_dir(name: str, shared_data: Path) -> str:
    dataset = find(name).card["config"]["train"]["dataset"]
    return str(shared_data / "binarized_mnist") if dataset == "binarized-mnist" else ""


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_model_opens_and_draws_its_canvas(studio, qtbot, name, shared_data):
    assert studio.open_trained_model(name, _data_dir(name, shared_data) or None), studio.last_error
    qtbot.waitUntil(lambda: studio.canvas.snapshot is not None and studio.state == RunState.PRETRAINED,
                    timeout=WAIT_MS)
    snapshot = studio.canvas.snapshot
    T = find(name).config.model.T
    assert snapshot.reconstructions.shape[0] == T and snapshot.samples.shape[0] == T
    assert len(studio.history.eval_step) >= 1  # the card's learning curve


def test_a_trained_model_is_read_only_and_offers_to_continue(studio, qtbot, tiny_root, shared_data):
    assert studio.open_trained_model("tiny", str(shared_data / "mnist")), studio.last_error
    qtbot.waitUntil(lambda: studio.state == RunState.PRETRAINED, timeout=WAIT_MS)
    actions = studio.menu_actions
    assert actions.continue_action.isEnabled()
    assert not actions.start_action.isEnabled() and not studio.lr_pane.apply_button.isEnabled()
    assert studio.run.pretrained == "tiny" and "tiny" in studio.windowTitle()
    assert studio.saved.recent_runs() == []  # a shipped model is no run to resume
    studio.lr_pane._last_draw = 0.0
    qtbot.waitUntil(lambda: studio.lr_pane.refresh() or True, timeout=WAIT_MS)
    reached = find("tiny").card["training"]["steps"]
    assert f"at step {reached} " in studio.lr_pane.status.text()  # where its training ended, from its curve
    assert "a trained model" in studio.lr_pane.status.text()


def test_a_trained_model_says_it_ships_no_history_rather_than_none_yet(studio, qtbot, tiny_root, shared_data):
    assert studio.open_trained_model("tiny", str(shared_data / "mnist")), studio.last_error
    qtbot.waitUntil(lambda: studio.state == RunState.PRETRAINED, timeout=WAIT_MS)
    steps = studio.training_steps
    assert steps.bar.label.text() == "s: none kept (trained model)"
    assert steps.heatmap.empty.text().startswith("A trained model ships without its training history")
    studio.close_run()
    assert steps.bar.label.text() == "s: no history yet"
    assert steps.heatmap.empty.text().startswith("No training history yet")


def test_continue_training_makes_a_new_run_from_the_weights_and_leaves_the_file_alone(
        studio, qtbot, tiny_root, shared_data, tmp_path, monkeypatch):
    import torch
    from PySide6.QtWidgets import QFileDialog

    from drawstudio.train import checkpoint as ckpt

    shipped = tiny_root / "tiny" / "weights.pt"
    before = shipped.read_bytes()
    studio.saved.remember_data_dir(str(shared_data / "mnist"))
    assert studio.open_trained_model("tiny"), studio.last_error
    run = tmp_path / "continued"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(run), ""))
    studio.menu_actions.continue_action.trigger()
    assert studio.run is not None and studio.run.session is not None, studio.last_error
    assert studio.run.run_dir == run
    studio.step_once()
    qtbot.waitUntil(lambda: studio.history.step == 1, timeout=WAIT_MS)
    studio.close_run()
    assert shipped.read_bytes() == before
    first = ckpt.load_checkpoint(ckpt.checkpoint_path(run, 0))["model"]
    weights = find("tiny").load_weights()
    assert all(torch.equal(first[k], weights[k]) for k in weights)


def test_the_first_screen_offers_the_trained_models_beside_a_new_run(qtbot, tiny_root):
    from drawstudio.studio.start_dialog import NEW_RUN, StartDialog

    dialog = StartDialog()
    qtbot.addWidget(dialog)
    assert dialog.models.count() == 1 and dialog.models.item(0).text().startswith("Tiny\n")
    dialog.explore_button.click()
    assert dialog.choice == "tiny" and dialog.result() == StartDialog.DialogCode.Accepted
    again = StartDialog()
    qtbot.addWidget(again)
    again.new_button.click()
    assert again.choice == NEW_RUN


def test_pretrained_on_the_command_line_opens_the_model(studio, qtbot, tiny_root, shared_data):
    from drawstudio.studio.app import build_parser, open_from_args

    args = build_parser().parse_args(["--pretrained", "tiny", "--data-dir", str(shared_data / "mnist")])
    open_from_args(studio, args)
    qtbot.waitUntil(lambda: studio.canvas.snapshot is not None, timeout=WAIT_MS)
    assert studio.run.pretrained == "tiny"


def test_a_trained_model_without_its_test_images_draws_its_own_samples_and_says_so(studio, qtbot, tiny_root,
                                                                                     tmp_path):
    assert studio.open_trained_model("tiny", str(tmp_path / "nowhere"))
    qtbot.waitUntil(lambda: studio.canvas.snapshot is not None, timeout=WAIT_MS)
    assert studio.state == RunState.PRETRAINED and studio.last_error == ""
    assert "reconstructs its own samples" in studio.statusBar().currentMessage()
    snapshot = studio.canvas.snapshot
    assert snapshot.originals.shape[0] == 16 and snapshot.reconstructions.shape[1] == snapshot.originals.shape[0]
