"""`kill -9` at any moment, again and again: real `python -m drawstudio train` processes are
SIGKILLed at random moments (three in eight aimed inside a checkpoint write) and
restarted until the run reaches its step count. After every kill each checkpoint on disk
loads, at most the one interrupted write has left a temp file, metrics.jsonl reads, and the
steps lost are no more than one autosave interval's worth; the restart resumes at the newest
checkpoint; the finished run has logged every step exactly once."""

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drawstudio.system.atomic import leftover_temp_files
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import parse_lines, read_metrics

HOOKS = Path(__file__).parent / "reliability_hooks"  # its sitecustomize.py can slow checkpoint writes down
AUTOSAVE = 0.25  # seconds: a checkpoint every few steps, so that kills often land near or in a write
WRITE_PAUSE = 0.5  # seconds each checkpoint write stays half-done, the window the in-write kills aim at
# (wide, so that a busy machine that is slow to poll still lands the kill inside it)
CHAINS = 2  # runs killed side by side (one process each, one thread per process: the machine has 2 cores)
FINAL_STEPS_AHEAD = 20  # the last restart trains this far past the newest checkpoint, then finishes
# each chain's kills, in turn: inside a checkpoint write, at a random moment of training, at a
# random moment from launch (imports, data loading, resuming, early training)
PLAN = ("write", "training", "write", "training", "launch", "write", "training", "training")
TIMEOUT = 60.0  # seconds any one wait may take before the test gives up


@dataclass
class Chain:
    """One run directory killed and restarted over and over, with what was observed."""

    run: Path
    argv: list[str]
    rng: random.Random
    log: Path
    lost_steps: list[int] = field(default_factory=list)
    lost_seconds: list[float] = field(default_factory=list)
    kills_inside_writes: int = 0

    def launch(self, steps: int) -> subprocess.Popen:
        python_path = [str(HOOKS), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(python_path), DRAWSTUDIO_TEST_SLOW_WRITE=str(WRITE_PAUSE),
                   OMP_NUM_THREADS="1")
        with open(self.log, "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "drawstudio", *self.argv, "--steps", str(steps)],
                                    env=env, stdout=log, stderr=log)

    def metrics_size(self) -> int:
        path = self.run / "metrics.jsonl"
        return path.stat().st_size if path.exists() else 0

    def metrics_since(self, offset: int) -> str:
        """What was appended to metrics.jsonl after its first `offset` bytes (polled often:
        the whole file grows to hundreds of kB)."""
        path = self.run / "metrics.jsonl"
        if not path.exists():
            return ""
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")

    def temp_files(self) -> set[Path]:
        return {*leftover_temp_files(self.run), *leftover_temp_files(ckpt.checkpoint_dir(self.run))}

    def checkpoint_writes(self, known: set[Path]) -> set[Path]:
        """Temp files of checkpoint writes, other than `known` ones."""
        return {p for p in self.temp_files() - known if p.name.startswith(".step-")}

    def wait_for(self, process: subprocess.Popen, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            exited = process.poll()
            assert exited is None, f"{self.run}: the process exited ({exited}) before {what}; see {self.log}"
            assert time.monotonic() < deadline, f"{self.run}: no {what} within {TIMEOUT} s"
            time.sleep(0.01)

    def kill_once(self, moment: str) -> None:
        newest_before = newest_step(self.run)
        known_temps = self.temp_files()  # left by the previous kill: the new process removes it
        offset = self.metrics_size()
        process = self.launch(10**9)
        try:
            if moment == "write":
                self.wait_for(process, lambda: bool(self.checkpoint_writes(known_temps)), "checkpoint write")
            elif moment == "training":
                self.wait_for(process, lambda: '"kind": "train"' in self.metrics_since(offset), "training step")
                time.sleep(self.rng.uniform(0, 3 * AUTOSAVE))
            else:
                time.sleep(self.rng.uniform(0.2, 3.0))  # imports, data loading, resuming or early training
        finally:
            process.kill()  # SIGKILL
            process.wait()
        self.kills_inside_writes += bool(self.checkpoint_writes(known_temps))
        self.check_after_kill(offset, newest_before)

    def check_after_kill(self, offset: int, newest_before: int) -> None:
        for path in ckpt.list_checkpoints(self.run):
            ckpt.load_checkpoint(path)  # raises CheckpointError for a half-written file
        temps = self.temp_files()
        assert len(temps) <= 1, f"temp files pile up: {temps}"
        appended = parse_lines(self.metrics_since(offset))  # what the killed process logged
        # it resumed from the newest checkpoint there was when it started
        assert all(r["step"] == newest_before for r in appended if r["kind"] == "resume"), appended
        train = [r for r in read_metrics(self.run / "metrics.jsonl") if r["kind"] == "train"]
        saved = newest_step(self.run)
        assert [r["step"] for r in train] == list(range(1, len(train) + 1)) and len(train) >= saved
        # Steps are lost when they ran after the newest checkpoint that survived. The autosave
        # starts a checkpoint once AUTOSAVE seconds have passed since the previous one began,
        # checked after each step: so the lost steps ran for AUTOSAVE seconds at most, plus the
        # one step that overran it ("elapsed" counts training time only, and is rounded to ms).
        elapsed = [0.0] + [r["elapsed"] for r in train]
        lost = elapsed[saved:]
        seconds = lost[-1] - lost[0]
        longest = max((b - a for a, b in zip(lost, lost[1:])), default=0.0)
        assert seconds <= AUTOSAVE + longest + 0.01, (saved, lost)
        trained = any(r["kind"] == "train" for r in appended)  # else the loss was the previous kill's
        self.lost_steps.append(len(lost) - 1 if trained else 0)
        self.lost_seconds.append(seconds if trained else 0.0)

    def finish(self) -> int:
        """Restart once more and let the run reach its step count; returns that count."""
        steps = newest_step(self.run) + FINAL_STEPS_AHEAD
        process = self.launch(steps)
        try:
            assert process.wait(timeout=TIMEOUT) == 0, f"the last restart failed; see {self.log}"
        finally:
            process.kill()
        return steps


def newest_step(run: Path) -> int:
    found = ckpt.list_checkpoints(run)
    return int(ckpt.load_checkpoint(found[0])["step"]) if found else 0


def kill_and_restart(chain: Chain) -> int:
    for moment in PLAN:
        chain.kill_once(moment)
    return chain.finish()


@pytest.mark.slow  # starts 18 training processes: about 70 CPU-seconds, mostly importing torch
@pytest.mark.timeout(400)
def test_sigkill_at_random_moments_and_inside_checkpoint_writes_loses_at_most_one_autosave_interval(
        tiny_train_argv, tmp_path):
    seed = int(os.environ.get("KILL_TEST_SEED", time.time_ns() % 10**6))
    print(f"kill test seed {seed} (KILL_TEST_SEED={seed} repeats the kill moments)")
    runs = [tmp_path / f"run{i}" for i in range(CHAINS)]
    chains = [Chain(run, tiny_train_argv(run, "--autosave", str(AUTOSAVE)), random.Random(seed + i),
                    run.with_suffix(".log")) for i, run in enumerate(runs)]
    with ThreadPoolExecutor(CHAINS) as pool:
        final_steps = list(pool.map(kill_and_restart, chains))

    for chain, steps in zip(chains, final_steps):
        records = read_metrics(chain.run / "metrics.jsonl")
        train = [r for r in records if r["kind"] == "train"]
        assert [r["step"] for r in train] == list(range(1, steps + 1))
        assert newest_step(chain.run) == steps
        assert chain.temp_files() == set()
        assert chain.kills_inside_writes >= 1
    lost = [n for chain in chains for n in chain.lost_steps]
    inside = sum(chain.kills_inside_writes for chain in chains)
    print(f"{CHAINS * len(PLAN)} kills, {inside} inside a checkpoint write; steps lost per kill: "
          f"max {max(lost)}, mean {sum(lost) / len(lost):.1f}; training seconds lost per kill: "
          f"max {max(s for c in chains for s in c.lost_seconds):.3f} (autosave every {AUTOSAVE} s)")
