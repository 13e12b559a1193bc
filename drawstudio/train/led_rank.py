"""A worker of a rank team (drawstudio/train/rank_team.py): one rank of a run that another
process's trainer, rank 0, leads step by step. Started by rank 0 as
`python -m drawstudio.train.led_rank` in torchrun's environment; writes nothing but its stderr.

It builds the run's model and loads its data from the config rank 0 put in the store, says it
is ready, joins the process group, takes rank 0's training state, and then does what each
control vector asks until told to leave."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as torch_dist

from drawstudio.config import RunConfig
from drawstudio.errors import DrawStudioError, NonFiniteError
from drawstudio.train.distributed import RANK_THREADS_VARIABLE, DistInfo
from drawstudio.train.rank_team import (
    COLLECTIVE_TIMEOUT,
    CONFIG_KEY,
    EVALUATE,
    JOIN_TIMEOUT,
    LEAVE,
    STEP,
    ready_key,
    weight_spread,
)
from drawstudio.train.trainer import Trainer


def follow(rank: int, ranks: int, threads: int, store: torch_dist.Store) -> None:
    """Train as rank `rank` of `ranks` until rank 0 says leave."""
    config = RunConfig.from_dict(json.loads(store.get(CONFIG_KEY)), "rank 0's config")
    trainer = Trainer(config, None)
    store.set(ready_key(rank), "1")
    torch_dist.init_process_group("gloo", store=store, rank=rank, world_size=ranks, timeout=COLLECTIVE_TIMEOUT)
    try:
        state = [None]
        torch_dist.broadcast_object_list(state, src=0)
        trainer.load_state(Path("rank 0's training state"), state[0])
        trainer.join_ranks(DistInfo(rank=rank, world_size=ranks, device=torch.device("cpu"), threads=threads))
        while True:
            control = torch.zeros(4, dtype=torch.float64)
            torch_dist.broadcast(control, src=0)
            command, lr, steps, images = control.tolist()
            trainer.config.train.steps = int(steps)
            if command == STEP:
                try:
                    trainer.advance(lr)
                except NonFiniteError:
                    pass  # every rank skips the step (the check is collective), and rank 0 pauses
            elif command == EVALUATE:
                trainer.evaluate("test", int(images))
            elif command == LEAVE:
                weight_spread(trainer.model)  # its part of the check rank 0 reports on
                break
            else:
                raise RuntimeError(f"unknown command {command} from rank 0")
        trainer.leave_ranks()
    finally:
        gc.collect()  # the distributed wrapper before the group it holds
        torch_dist.destroy_process_group()


def main() -> int:
    rank, ranks = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    store = torch_dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), ranks, is_master=False,
                                timeout=JOIN_TIMEOUT)
    try:
        follow(rank, ranks, int(os.environ.get(RANK_THREADS_VARIABLE, "0")), store)
    except DrawStudioError as error:
        print(f"drawstudio rank {rank}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
