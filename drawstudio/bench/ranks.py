"""The data-parallel path of `drawstudio bench`: K processes of a few threads each, every one
training on its slice of the global batch with gradients averaged over gloo (what
`drawstudio train --ranks K` and torchrun run), against one process holding every thread.

DRAW's matrices are small (a batch of 64 times 256 LSTM units), so one process spends much of
a step in per-operation overhead and OpenMP barriers that a second core cannot shorten; two
processes of one thread each keep both cores on arithmetic and pay one all-reduce of the
gradients (a few MB) per step instead.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import torch

from drawstudio.config import ModelConfig
from drawstudio.errors import ConfigError
from drawstudio.train.distributed import free_port


def measure_ranks(config: ModelConfig, batch_size: int, ranks: int, threads: int, steps: int,
                  timed: Any, amp: bool = False) -> float:
    """Images per second of `ranks` processes with `threads` threads each training on a global
    batch of `batch_size` (each rank times its own steps; the slowest rank's median counts)."""
    if batch_size % ranks:
        raise ConfigError(f"batch {batch_size} does not split over {ranks} ranks")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    port = free_port()
    processes = [context.Process(target=_rank, args=(config, batch_size, rank, ranks, threads, steps, port, timed,
                                                     amp, queue)) for rank in range(ranks)]
    for process in processes:
        process.start()
    seconds = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    return batch_size / max(seconds)


def _rank(config: ModelConfig, batch_size: int, rank: int, ranks: int, threads: int, steps: int, port: int,
          timed: Any, amp: bool, queue: Any) -> None:
    import torch.distributed as dist

    from drawstudio.model.draw import Draw
    from drawstudio.system.devices import prepare
    from drawstudio.train.objective import Objective

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    device = torch.device("cpu")
    prepare(device, threads)
    torch.manual_seed(0)
    model = Draw(config)
    objective = torch.nn.parallel.DistributedDataParallel(Objective(model, fused=True))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    share = batch_size // ranks
    x = (torch.rand(share, config.channels, config.height, config.width) > 0.5).float()
    labels = torch.zeros(share, dtype=torch.long) if config.num_classes else None

    def train_step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = objective(x, labels).loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()

    try:
        queue.put(timed(train_step, steps, device))
    finally:
        dist.barrier()
        dist.destroy_process_group()
