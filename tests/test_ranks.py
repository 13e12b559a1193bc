"""`drawstudio train --ranks N`: N processes on this machine train one run as torchrun's ranks
would, started, watched and stopped by the command itself.

Two runs of the tiny model, each trained once on 2 ranks and once in one process, in turn
(`runs`). The noise is a slice of the global batch's (the DRAWSTUDIO_TEST_SHARED_NOISE hook;
the trainer itself gives each rank a stream of its own) and the pixels are thresholded, so
2 ranks and one process draw the same numbers and must reach the same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA, TINY_MODEL_FLAGS, require_shared_data
from held_writer import REPO, TIMEOUT, drawstudio_env
from reliability_hooks.shared_noise import shared_draw_noise

from drawstudio.cli import ranks as launcher
from drawstudio.cli.main import main
from drawstudio.config import RunConfig, TrainConfig
from drawstudio.model.draw import Draw
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics

TINY = (*TINY_MODEL_FLAGS, "--binarize", "threshold", "--quiet")
STOPPED_BY_CTRL_C = 500  # steps a run asks for that Ctrl-C stops long before


def train_argv(run: Path, *extra: str) -> list[str]:
    return ["train", "--run-dir", str(run), "--dataset", "mnist", "--data-dir", str(SHARED_DATA / "mnist"), *TINY,
            *extra]


def in_one_process(run: Path, *extra: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Draw, "draw_noise", shared_draw_noise())
        assert main(train_argv(run, "--threads", "1", *extra)) == 0


@dataclass
class Session:
    """What a `--ranks 2` command printed and its exit code."""
    out: str
    err: str
    code: int


class OnTwoRanks:
    """`drawstudio train --ranks 2` on `run`, its output kept in `log`.out and .err."""

    def __init__(self, run: Path, log: Path, *extra: str):
        self.out, self.err = log.with_suffix(".out"), log.with_suffix(".err")
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "drawstudio", *train_argv(run, "--ranks", "2", *extra)], cwd=REPO,
                stdout=out, stderr=err, env=drawstudio_env(DRAWSTUDIO_TEST_SHARED_NOISE="1"))

    def finish(self) -> Session:
        code = self.process.wait(TIMEOUT)
        return Session(self.out.read_text(), self.err.read_text(), code)


def processes_naming(run: Path) -> list[int]:
    """The live processes whose command line names `run`: ranks left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(run).encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            pass
    return found


def kill_leftovers(run: Path) -> None:
    for pid in processes_naming(run):
        os.kill(pid, signal.SIGKILL)


def weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return ckpt.load_checkpoint(ckpt.checkpoint_path(run, step))["model"]


def assert_same_weights(run: Path, other: Path, step: int) -> None:
    mine, theirs = weights(run, step), weights(other, step)
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert torch.allclose(mine[name], theirs[name], rtol=0, atol=1e-5), name


def records(run: Path, kind: str) -> list[dict]:
    return [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == kind]


@dataclass
class Runs:
    ranks_first: Path  # 3 steps on 2 ranks, then to `stopped_at` in one process
    one_first: Path  # 3 steps in one process, then on 2 ranks until Ctrl-C stopped it at `stopped_at`
    first: Session  # ranks_first's 2-rank session
    first_config: RunConfig  # the config it stored
    stopped: Session  # one_first's 2-rank session
    stopped_at: int
    left_running: list[int]  # processes naming a run just after its 2-rank session ended


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    require_shared_data()
    # one-process sessions run in this process: give the tests after this module the RNG and
    # thread count they would have had
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    root = tmp_path_factory.mktemp("ranks")
    ranks_first, one_first = root / "ranks-first", root / "one-first"
    try:
        first = OnTwoRanks(ranks_first, root / "first", "--steps", "3", "--threads", "2").finish()
        left_running = processes_naming(ranks_first)
        first_config = RunConfig.load(ranks_first / "config.json")
        in_one_process(one_first, "--steps", "3")

        running = OnTwoRanks(one_first, root / "stopped", "--steps", str(STOPPED_BY_CTRL_C))
        deadline = time.monotonic() + TIMEOUT
        while records(one_first, "train")[-1]["step"] < 4:  # training on 2 ranks
            assert running.process.poll() is None and time.monotonic() < deadline, running.err.read_text()
            time.sleep(0.05)
        running.process.send_signal(signal.SIGINT)  # to the launcher alone, as `kill -INT` would
        stopped = running.finish()
        left_running += processes_naming(one_first)
        stopped_at = records(one_first, "checkpoint")[-1]["step"]
        in_one_process(ranks_first, "--steps", str(stopped_at))
    finally:
        kill_leftovers(ranks_first)
        kill_leftovers(one_first)
        torch.set_rng_state(rng)
        torch.set_num_threads(threads)
    return Runs(ranks_first, one_first, first, first_config, stopped, stopped_at, left_running)


@pytest.mark.slow
def test_two_ranks_train_like_one_process_on_the_same_global_batch_and_seed(runs):
    assert runs.first.code == 0, runs.first.err[-2000:]
    assert runs.first.err.startswith("training on 2 ranks of 1 thread each (gloo)\n")
    assert_same_weights(runs.ranks_first, runs.one_first, step=3)


@pytest.mark.slow
def test_two_ranks_share_an_evaluation_batch_by_batch_and_record_the_bound_one_process_gets(tmp_path, shared_data):
    flags = ("--dataset", "binarized-mnist", "--data-dir", str(shared_data / "binarized_mnist"), *TINY_MODEL_FLAGS,
             "--quiet", "--steps", "1", "--eval-every", "1000", "--eval-images", "3000")  # 3 batches a split, at step 0
    for run, extra in (("ranks", ("--ranks", "2")), ("one", ("--threads", "1"))):
        subprocess.run([sys.executable, "-m", "drawstudio", "train", "--run", str(tmp_path / run), *flags, *extra],
                       cwd=REPO, env=drawstudio_env(), timeout=TIMEOUT, check=True, capture_output=True)
    shared, alone = records(tmp_path / "ranks", "eval"), records(tmp_path / "one", "eval")
    assert [(r["split"], r["images"]) for r in shared] == [(r["split"], r["images"]) for r in alone] == [
        ("test", 3000), ("valid", 3000)]
    for mine, theirs in zip(shared, alone):
        for key in ("nll", "recon", "kl"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-9), key


@pytest.mark.slow
def test_rank_zero_alone_writes_the_run_once_and_the_threads_asked_for_stay_the_runs(runs):
    for run in (runs.ranks_first, runs.one_first):
        assert [r["step"] for r in records(run, "train")] == list(range(1, runs.stopped_at + 1))
        assert [r["step"] for r in records(run, "checkpoint")] == [3, runs.stopped_at]
    assert runs.stopped.out.count("checkpoint saved") == 1  # rank 1's stdout, the same messages, is dropped
    # the 2 ranks trained on a thread each, half of the 2 asked for; the run keeps the 2, and no ranks
    assert {r["threads"] for r in records(runs.ranks_first, "train") if r["step"] <= 3} == {1}
    # each train record says how many processes trained the step
    assert {r["ranks"] for r in records(runs.ranks_first, "train") if r["step"] <= 3} == {2}
    assert {r["ranks"] for r in records(runs.ranks_first, "train") if r["step"] > 3} == {1}
    assert runs.first_config.train.threads == 2 and "ranks" not in runs.first_config.to_json()


@pytest.mark.slow
def test_ctrl_c_to_the_launcher_stops_every_rank_after_the_same_step_with_a_checkpoint_and_exit_130(runs):
    assert runs.stopped.code == 130, runs.stopped.err[-2000:]
    assert 4 <= runs.stopped_at < STOPPED_BY_CTRL_C
    assert f"stopped at step {runs.stopped_at}; checkpoint saved" in runs.stopped.out
    assert records(runs.one_first, "train")[-1]["step"] == runs.stopped_at
    assert runs.left_running == []


@pytest.mark.slow
def test_a_run_resumes_on_another_number_of_ranks(runs):
    for run in (runs.ranks_first, runs.one_first):
        assert [r["step"] for r in records(run, "resume")] == [3]
    assert_same_weights(runs.ranks_first, runs.one_first, step=runs.stopped_at)


@pytest.mark.slow
def test_when_a_rank_fails_the_launcher_stops_the_others_and_exits_with_its_code(tmp_path, shared_data):
    run = tmp_path / "run"
    try:
        done = subprocess.run([sys.executable, "-m", "drawstudio", *train_argv(run, "--ranks", "2", "--steps", "3")],
                              cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False,
                              env=drawstudio_env(DRAWSTUDIO_TEST_FAIL_RANK="1"))
        left_running = processes_naming(run)
    finally:
        kill_leftovers(run)  # rank 0 waits for rank 1 to join forever unless stopped
    assert done.returncode == 7
    assert "rank 1: rank 1 fails at start-up, as planted\n" in done.stderr
    assert done.stderr.endswith("drawstudio: error: rank 1 of 2 failed (exit code 7), so every rank was stopped\n")
    assert left_running == [] and not run.exists()


def fail_to_start(*args, **kwargs):
    raise AssertionError("a process was started")


@pytest.mark.parametrize("extra, error", [
    (("--ranks", "0"), "--ranks 0 must be at least 1"),
    (("--ranks", "2", "--batch-size", "15"), "batch_size=15 must divide evenly over 2 processes"),
    (("--ranks", "3", "--device", "cuda"), ("--ranks trains on the CPU, not on device='cuda'; for one process per "
                                             "GPU use torchrun --nproc-per-node N -m drawstudio train ...")),
])
def test_an_impossible_ranks_setting_is_one_line_and_starts_no_process(tmp_path, run_cli, monkeypatch, extra, error):
    monkeypatch.setattr(launcher.subprocess, "Popen", fail_to_start)
    run = tmp_path / "run"
    assert run_cli(*train_argv(run, "--steps", "3", *extra)) == (1, f"drawstudio: error: {error}\n")
    assert not run.exists()


def test_an_existing_runs_batch_must_divide_over_the_ranks_too(tmp_path, run_cli, monkeypatch):
    monkeypatch.setattr(launcher.subprocess, "Popen", fail_to_start)
    run = tmp_path / "run"
    run.mkdir()
    RunConfig(train=TrainConfig(dataset="mnist", batch_size=15)).save(run / "config.json")
    code, err = run_cli("train", "--run-dir", run, "--ranks", "2")
    assert (code, err) == (1, "drawstudio: error: batch_size=15 must divide evenly over 2 processes\n")


def test_ranks_under_torchrun_are_refused(tmp_path, run_cli, monkeypatch):
    monkeypatch.setattr(launcher.subprocess, "Popen", fail_to_start)
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, err = run_cli(*train_argv(tmp_path / "run", "--ranks", "2"))
    assert (code, err) == (1, ("drawstudio: error: --ranks starts processes of its own: under torchrun leave it "
                               "out (torchrun's --nproc-per-node says how many)\n"))


def test_each_rank_gets_its_share_of_the_threads_asked_for_or_of_the_free_cores(monkeypatch):
    monkeypatch.setattr(launcher, "free_cores", lambda: 5)
    assert [launcher.threads_per_rank(threads, 2) for threads in (0, 1, 2, 6)] == [2, 1, 1, 3]
    assert launcher.threads_per_rank(0, 8) == 1


@pytest.mark.parametrize("argv", [
    ["train", "--ranks", "2", "--run", "r"], ["train", "--ranks=2", "--run", "r"], ["train", "--ran", "2", "--run", "r"],
    ["train", "--run", "r", "--rank=2"],
])
def test_the_ranks_get_the_command_line_without_ranks(argv):
    assert launcher.without_ranks(argv) == ["train", "--run", "r"]
