"""One writer per run directory. A first `drawstudio train` process, held still mid-run with the
run's lock (tests/held_writer.py), meets a second writer, a SIGKILL, and readers; the runs are
tiny (tests/run_kinds.py)."""

from __future__ import annotations

import errno
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from held_writer import REPO, TIMEOUT, HeldWriter, drawstudio_env
from run_kinds import train_argv

from drawstudio.cli.main import main
from drawstudio.errors import CheckpointError, RunDirError, RunLockedError
from drawstudio.train.metrics import read_metrics
from drawstudio.train.run_lock import RunLock, lock_path
from drawstudio.train.runs import load_run_config
from drawstudio.train.trainer import Trainer

STEPS = ("--steps", "6", "--threads", "1")
CLOCK = {"time", "elapsed", "images_per_s"}  # the only values two identical runs do not share


def _run_files(run: Path) -> list[Path]:
    return sorted(p.relative_to(run) for p in run.rglob("*") if p.is_file())


def _without_clock(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK}
    if isinstance(value, list | tuple):
        return [_without_clock(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value


def assert_same_run(run: Path, alone: Path) -> None:
    """The same files, byte for byte but for the clock: the metrics' and checkpoints' times."""
    assert _run_files(run) == _run_files(alone)
    for name in _run_files(run):
        if name.suffix == ".pt":
            states = [torch.load(r / name, weights_only=False) for r in (run, alone)]
            assert _without_clock(states[0]) == _without_clock(states[1]), name
        elif name.name == "metrics.jsonl":
            assert [_without_clock(r) for r in read_metrics(run / name)] == \
                   [_without_clock(r) for r in read_metrics(alone / name)]
        else:
            assert (run / name).read_bytes() == (alone / name).read_bytes(), name


def test_a_second_cli_writer_is_refused_naming_the_first_which_ends_as_if_alone(run_kind_data, tmp_path):
    run, alone = tmp_path / "run", tmp_path / "alone"
    argv = [*train_argv("unconditional", run_kind_data, run), *STEPS]
    alone_argv = [*train_argv("unconditional", run_kind_data, alone), *STEPS]
    with HeldWriter(argv, tmp_path / "first", hold_at=3) as first, HeldWriter(alone_argv, tmp_path / "lone") as lone:
        first.wait_until_held()
        second = subprocess.run([sys.executable, "-m", "drawstudio", "train", "--run", str(run), "--steps", "9",
                                 "--quiet"], cwd=REPO, env=drawstudio_env(), capture_output=True, text=True,
                                timeout=TIMEOUT)
        assert second.returncode == 1, second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert line.startswith(f"drawstudio: error: {run}: already being trained by pid {first.pid} "
                               f"on host {socket.gethostname()!r} (python -m drawstudio train --run {run} "), line
        assert f"drawstudio gui --run {run} --follow" in line
        assert first.finish() == 0, first.output()
        assert lone.finish() == 0, lone.output()
    assert_same_run(run, alone)
    assert lock_path(run).read_text() == ""  # released: it names no one


def test_a_sigkilled_writers_lock_is_free_at_once(run_kind_data, tmp_path):
    run = tmp_path / "run"
    with HeldWriter([*train_argv("unconditional", run_kind_data, run), *STEPS], tmp_path / "first", hold_at=1) as first:
        first.wait_until_held()
        with pytest.raises(RunLockedError, match=f"already being trained by pid {first.pid} "):
            RunLock(run)
        first.process.kill()
        first.process.wait(TIMEOUT)
    # no waiting, no stale-lock cleanup: the next writer trains on from where the kill left the run
    assert main(["train", "--run", str(run), "--steps", "3", "--quiet"]) == 0
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "resume"] == [0]


def test_eval_sample_and_history_read_a_run_another_process_trains(run_kind_template, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_kind_template("unconditional"), run)
    with HeldWriter(["train", "--run", str(run), "--steps", "6", "--quiet"], tmp_path / "first", hold_at=3) as first:
        first.wait_until_held()
        assert main(["eval", "--run", str(run), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["step"] == 2
        assert main(["sample", "--run", str(run), "--n", "2"]) == 0
        assert main(["history", "--run", str(run), "--gif", str(tmp_path / "history.gif")]) == 0
        assert first.finish() == 0, first.output()
    assert (run / "samples" / "step-2.png").is_file() and (tmp_path / "history.gif").is_file()


def test_a_second_trainer_in_one_process_is_refused_until_the_first_closes(tiny_config, tmp_path):
    first = Trainer(tiny_config, tmp_path / "run")
    with pytest.raises(RunLockedError, match="already being trained by pid"):
        Trainer(tiny_config, tmp_path / "run")
    first.close()
    Trainer(tiny_config, tmp_path / "run").close()


def test_a_trainer_that_cannot_open_the_run_releases_its_lock_at_once(tiny_config, tmp_path):
    trainer = Trainer(tiny_config, tmp_path / "run")
    trainer.advance()
    trainer.save_checkpoint()
    trainer.close()
    other = load_run_config(tmp_path / "run")
    other.model.z_size += 1  # the stored checkpoint does not fit this model
    with pytest.raises(CheckpointError, match="different model") as failure:
        Trainer(other, tmp_path / "run")
    # free while the error is still at hand (being shown, say), its frames holding the failed trainer
    RunLock(tmp_path / "run").release()
    assert failure.traceback


def test_a_file_system_without_locks_is_one_clear_error(tmp_path, monkeypatch):
    def no_locks(*_args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr("fcntl.flock", no_locks)
    with pytest.raises(RunDirError, match=f"^{tmp_path / 'writer.lock'}: this file system cannot lock files "
                                          r"\(No locks available\), .* put the run on a local disk$"):
        RunLock(tmp_path)
