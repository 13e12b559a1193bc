"""A real `python -m drawstudio train` process that can hold still after a chosen step, the run's
lock held, until the test lets it go (the DRAWSTUDIO_TEST_HOLD hook of tests/reliability_hooks):
the first writer of the one-writer tests, caught mid-run on purpose rather than by timing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HOOKS = Path(__file__).parent / "reliability_hooks"
REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120.0  # seconds a writer may take to reach its step or to finish (a busy 2-core machine)


def drawstudio_env(**extra: str) -> dict[str, str]:
    """The environment of a drawstudio process the tests start: the hooks importable, one thread.
    The hooks import drawstudio before the command's own path is set; with REPO first, that is
    this checkout's package, not whichever one is installed (a scratch copy's tests test the copy)."""
    python_path = [str(HOOKS), str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(python_path), OMP_NUM_THREADS="1", **extra)


class HeldWriter:
    """`drawstudio *argv` (a `train` command) in a process of its own; with `hold_at`, it holds
    still after that step until `finish`. Killed on leaving the `with` block if still running."""

    def __init__(self, argv: list[str], folder: Path, hold_at: int | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.release_file = folder / "release"
        self.held_file = folder / "release.held"
        self.log = folder / "writer.log"
        env = drawstudio_env(**({"DRAWSTUDIO_TEST_HOLD": f"{hold_at}:{self.release_file}"} if hold_at else {}))
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "drawstudio", *argv], cwd=REPO, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_until_held(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self.held_file.exists():
            assert self.process.poll() is None, f"the writer exited ({self.process.returncode}): {self.output()}"
            assert time.monotonic() < deadline, f"the writer never reached its step: {self.output()}"
            time.sleep(0.05)

    def finish(self) -> int:
        """Let it go on and wait for its exit code."""
        self.release_file.touch()
        return self.process.wait(TIMEOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def __enter__(self) -> HeldWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
