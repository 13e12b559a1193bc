"""Loaded at start-up by Python processes that have this folder on PYTHONPATH: training
processes the reliability tests start. Nothing in drawstudio knows about it.

* DRAWSTUDIO_TEST_SLOW_WRITE=SECONDS: every atomic write (the checkpoints) pauses that long after
  its first chunk, with the part written so far flushed to the temp file, so the kill test can
  SIGKILL a process inside a checkpoint write on purpose rather than by luck.
* DRAWSTUDIO_TEST_HOLD=STEP:FILE: training holds still after step STEP, the run's lock held, until
  FILE exists; it writes FILE.held first, so a test knows when to try a second writer.
* DRAWSTUDIO_TEST_CHECK_RELEASE=1: destroying the process group while a DistributedDataParallel
  wrapper still holds it raises, so that the rank fails instead of aborting now and then at exit.
* DRAWSTUDIO_TEST_SHARED_NOISE=1: training noise is a slice of the global batch's, the same for
  any number of ranks (shared_noise.py), so that runs on different numbers of ranks compare.
* DRAWSTUDIO_TEST_FAIL_RANK=R: the process of rank R says so on stderr and exits with code 7 at
  start-up, before it joins the others.
"""

import os
import time
from pathlib import Path
from typing import Any, BinaryIO

_PAUSE = float(os.environ.get("DRAWSTUDIO_TEST_SLOW_WRITE", "0"))
_HOLD = os.environ.get("DRAWSTUDIO_TEST_HOLD", "")


class _PausingFile:
    """A file whose first write is followed by a pause; everything else goes to the file."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._paused = False

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        if not self._paused:
            self._paused = True
            self._handle.flush()
            time.sleep(_PAUSE)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


if _PAUSE > 0:
    from drawstudio.system import atomic

    _atomic_write = atomic.atomic_write

    def _slow_atomic_write(path: Any, write: Any) -> None:
        _atomic_write(path, lambda handle: write(_PausingFile(handle)))

    atomic.atomic_write = _slow_atomic_write


if _HOLD:
    from drawstudio.train.trainer import Trainer

    _step, _, _file = _HOLD.partition(":")
    _hold_step, _release_file = int(_step), Path(_file)
    _advance = Trainer.advance

    def _holding_advance(self: Trainer) -> None:
        _advance(self)
        if self.step == _hold_step:
            _release_file.with_name(_release_file.name + ".held").write_text(str(os.getpid()))
            while not _release_file.exists():
                time.sleep(0.02)

    Trainer.advance = _holding_advance


if os.environ.get("DRAWSTUDIO_TEST_CHECK_RELEASE"):
    import gc

    import torch.distributed
    from torch.nn.parallel import DistributedDataParallel

    _destroy = torch.distributed.destroy_process_group

    def _checked_destroy(*args: Any, **kwargs: Any) -> None:
        # type(o): isinstance would read each object's __class__, which warns on deprecated torch objects
        if any(issubclass(type(o), DistributedDataParallel) for o in gc.get_objects()):
            raise RuntimeError("the process group is destroyed while a DistributedDataParallel wrapper holds it")
        _destroy(*args, **kwargs)

    torch.distributed.destroy_process_group = _checked_destroy


if os.environ.get("DRAWSTUDIO_TEST_SHARED_NOISE"):
    from shared_noise import shared_draw_noise

    from drawstudio.model.draw import Draw

    Draw.draw_noise = shared_draw_noise()


_FAIL_RANK = os.environ.get("DRAWSTUDIO_TEST_FAIL_RANK")
if _FAIL_RANK and os.environ.get("RANK") == _FAIL_RANK:
    import sys

    print(f"rank {os.environ['RANK']} fails at start-up, as planted", file=sys.stderr, flush=True)
    os._exit(7)
