"""Training noise drawn for the whole global batch from one stream every rank shares, each rank
taking its own slice, so that a run on N ranks draws the very numbers one process draws on the
same global batch, and the tests can compare their weights number for number. (The trainer gives
each rank a noise stream of its own: N ranks then train like one process in distribution only.)

Call n of a process is seeded n: the training steps of one session, as long as nothing but a
training step draws noise without passing its own (evaluations and snapshots pass theirs)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import torch
from torch import Tensor


def shared_draw_noise() -> Callable[..., Tensor]:
    """A replacement for `Draw.draw_noise` with a fresh count of calls."""
    calls = itertools.count()

    def draw_noise(self, batch: int, like: Tensor) -> Tensor:
        ranks, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
        c = self.config
        generator = torch.Generator().manual_seed(next(calls))
        noise = torch.randn(c.T, batch * ranks, c.z_size, generator=generator)
        return noise[:, rank * batch:(rank + 1) * batch].to(like.device, like.dtype)

    return draw_noise
