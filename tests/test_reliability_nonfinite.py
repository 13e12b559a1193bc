"""The CLI's NaN path: a non-finite loss stops training with exit code 3 and one line that
names the step and says to lower the learning rate; the newest checkpoint then holds the
last good state, finite and bit for bit what the weights were before the failed step; and
re-running with a lower --lr continues from exactly there."""

import math
from typing import Any

import torch

from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics
from drawstudio.train.trainer import Trainer

POISONED_STEP = 5  # the batch of step 6 (trainer.step == 5 when it is drawn) is NaN


def test_non_finite_loss_exits_3_keeping_the_last_good_state_and_a_lower_lr_continues_from_it(
        tmp_path, tiny_train_argv, run_cli, error_line, monkeypatch):
    run = tmp_path / "run"
    last_good: dict[str, Any] = {}
    real_batch = Trainer.batch

    def poisoned_batch(self: Trainer):
        x, labels = real_batch(self)
        if self.step == POISONED_STEP:  # NaN pixels: the loss of this step is NaN
            last_good["model"] = {k: v.clone() for k, v in self.model.state_dict().items()}
            last_good["exp_avg"] = [s["exp_avg"].clone() for s in self.optimizer.state.values()]
            x = torch.full_like(x, math.nan)
        return x, labels

    monkeypatch.setattr(Trainer, "batch", poisoned_batch)
    code, stderr = run_cli(*tiny_train_argv(run, "--steps", "12", "--lr", "1e-3"))
    assert code == 3
    line = error_line(stderr)
    assert f"step {POISONED_STEP}: the loss is not finite" in line
    assert "lower --lr (e.g. --lr 0.0001)" in line and f"step-{POISONED_STEP:09d}.pt" in line

    state = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[0])
    assert state["step"] == POISONED_STEP
    for name, value in state["model"].items():
        assert torch.isfinite(value).all(), name
        assert torch.equal(value, last_good["model"][name]), name
    moments = [s["exp_avg"] for s in state["optimizer"]["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(moments, last_good["exp_avg"], strict=True))

    monkeypatch.undo()
    code, stderr = run_cli(*tiny_train_argv(run, "--steps", "12", "--lr", "1e-4"))
    assert code == 0, stderr
    records = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records if r["kind"] == "resume"] == [POISONED_STEP]
    assert [(r["step"], r["lr"]) for r in records if r["kind"] == "schedule"] == [(POISONED_STEP, 1e-4)]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 13))
    assert [r["lr"] for r in train] == [1e-3] * POISONED_STEP + [1e-4] * (12 - POISONED_STEP)
    assert all(math.isfinite(r["loss"]) for r in train)


def test_diverging_learning_rate_is_stopped_before_the_weights_become_non_finite(
        tmp_path, tiny_train_argv, run_cli, error_line):
    """Real divergence, nothing injected: with lr 1e6 the first update wrecks the model and the
    next loss is NaN; that step is refused, so the saved state is still finite."""
    run = tmp_path / "run"
    code, stderr = run_cli(*tiny_train_argv(run, "--steps", "20", "--lr", "1e6"))
    assert code == 3
    assert "is not finite" in error_line(stderr)
    [nonfinite] = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "nonfinite"]
    state = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[0])
    assert state["step"] == nonfinite["step"] < 20
    assert all(torch.isfinite(v).all() for v in state["model"].values())
