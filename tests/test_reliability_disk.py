"""A disk that fills up or a run directory that turns read-only: saving fails loudly with a
RunDirError naming the directory and the reason, the previous checkpoint stays intact with no
temp file left beside it, and the CLI stops (exit 1) instead of training on unsaved.

The faults are injected as tests/disk_faults.py does (in-process, at the system calls)."""

import builtins
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from disk_faults import FAULTS, inject

from drawstudio.errors import RunDirError
from drawstudio.system.atomic import leftover_temp_files
from drawstudio.train import checkpoint as ckpt
from drawstudio.train import metrics
from drawstudio.train.metrics import read_metrics
from drawstudio.train.runs import load_run_config
from drawstudio.train.trainer import Trainer


def assert_checkpoints_intact(run: Path, before: dict[str, str], digest) -> None:
    assert digest(ckpt.checkpoint_dir(run)) == before
    assert ckpt.load_checkpoint(ckpt.checkpoint_path(run, 3))["step"] == 3
    assert leftover_temp_files(ckpt.checkpoint_dir(run)) == []


@pytest.mark.parametrize("fault", FAULTS)
def test_checkpoint_that_cannot_be_written_raises_run_dir_error_and_keeps_the_previous_one(
        tiny_run, monkeypatch, digest, fault):
    config = load_run_config(tiny_run)
    config.train.steps = 100
    trainer = Trainer(config, tiny_run)
    trainer.advance()
    before = digest(ckpt.checkpoint_dir(tiny_run))
    calls = inject(monkeypatch, fault)
    with pytest.raises(RunDirError) as caught:
        trainer.save_checkpoint()
    message = str(caught.value)
    assert message.startswith(f"{tiny_run}: could not save a checkpoint ({FAULTS[fault]})") and "\n" not in message
    assert calls == [1]
    monkeypatch.undo()
    assert_checkpoints_intact(tiny_run, before, digest)


@pytest.mark.parametrize("fault", FAULTS)
def test_cli_stops_at_the_first_checkpoint_it_cannot_write(
        tiny_run, tiny_train_argv, run_cli, error_line, monkeypatch, digest, fault):
    before = digest(ckpt.checkpoint_dir(tiny_run))
    calls = inject(monkeypatch, fault)
    # autosave after every step: had training gone on after the failure, it would have tried again
    code, stderr = run_cli(*tiny_train_argv(tiny_run, "--steps", "50", "--autosave", "1e-9"))
    monkeypatch.undo()
    assert code == 1
    line = error_line(stderr)
    # the first write may be the run's updated config.json (new --steps/--autosave) or the first
    # checkpoint; either way the CLI names the directory and the fault and goes no further
    assert line.startswith(f"drawstudio: error: {tiny_run}: ") and f"({FAULTS[fault]})" in line
    assert calls == [1]
    steps = [r["step"] for r in read_metrics(tiny_run / "metrics.jsonl") if r["kind"] == "train"]
    assert steps[-1] <= 4  # at most the first step after resuming at 3, whose checkpoint failed
    assert_checkpoints_intact(tiny_run, before, digest)


class FailingFile:
    """An append handle on which the disk fills after `budget` more writes."""

    def __init__(self, handle: Any, budget: int):
        self._handle = handle
        self._budget = budget

    def write(self, text: str) -> int:
        if self._budget <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget -= 1
        return self._handle.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


@pytest.mark.parametrize("budget", [0, 4], ids=["unwritable-from-the-start", "disk-fills-mid-run"])
def test_metrics_that_cannot_be_appended_stop_the_cli_with_one_line_and_keep_the_checkpoint(
        tiny_run, tiny_train_argv, run_cli, error_line, monkeypatch, digest, budget):
    path = tiny_run / "metrics.jsonl"
    logged = path.read_text()
    before = digest(ckpt.checkpoint_dir(tiny_run))

    def open_with_full_disk(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(file, mode, *args, **kwargs)
        return FailingFile(handle, budget) if "a" in mode else handle

    monkeypatch.setattr(metrics, "open", open_with_full_disk, raising=False)
    code, stderr = run_cli(*tiny_train_argv(tiny_run, "--steps", "50"))
    monkeypatch.undo()
    assert code == 1
    assert error_line(stderr) == f"drawstudio: error: {path}: cannot append metrics (No space left on device)"
    # what was logged before is untouched, and nothing was logged after the failure
    lines = path.read_text().splitlines()
    assert "\n".join(lines[: len(logged.splitlines())]) + "\n" == logged
    assert len(lines) == len(logged.splitlines()) + budget
    assert_checkpoints_intact(tiny_run, before, digest)
