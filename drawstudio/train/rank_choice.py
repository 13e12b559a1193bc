"""The ranks rule (drawstudio/system/ranks_rule.py) applied to a run: how many data-parallel
ranks `drawstudio train` without --ranks, and the studio, train it on, and the line that says why."""

from __future__ import annotations

import torch

from drawstudio.config import RunConfig
from drawstudio.model.draw import Draw
from drawstudio.model.flops import train_flops_per_image
from drawstudio.system.devices import resolve_device
from drawstudio.system.ranks_rule import MIN_RANK_GFLOP, ranks_for
from drawstudio.system.threads import default_threads, free_cores


def automatic(config: RunConfig) -> tuple[int, int, str]:
    """The ranks rule for a run left to it: → its ranks, each rank's threads, and why, for the line
    that reports the choice ("" where nothing needs saying: the rule does not apply, or the model's
    step is too small for ranks on any number of cores). It applies on the CPU, with the threads
    left to the thread rule and without torch.compile."""
    train = config.train
    if train.threads or train.compile or resolve_device(train.device).type != "cpu":
        return 1, 0, ""
    gflop = train_flops_per_image(config.model) / 1e9
    if ranks_for(default_threads(), train.batch_size, gflop) == 1:
        return 1, 0, ""
    try:  # sizes no process can allocate are the trainer's error to report, not the rule's
        with torch.device("meta"):
            Draw(config.model)
    except (RuntimeError, MemoryError):
        return 1, 0, ""
    free = free_cores()  # measured only where ranks could win: it takes a second
    ranks = ranks_for(free, train.batch_size, gflop)
    if ranks == 1:
        return 1, 0, (f"training in one process: other processes keep {default_threads() - free} of the "
                      f"{default_threads()} cores busy, and the ranks rule wants a free core for each rank")
    images = train.batch_size // ranks
    return ranks, free // ranks, (f": the ranks rule, one rank per free core while each rank's slice of a step "
                                  f"carries at least {MIN_RANK_GFLOP:g} GFLOP (here {images} images × "
                                  f"{gflop:.3f} = {images * gflop:.1f}); --ranks 1 trains in one process")
