"""Training on several processes with torchrun: DistributedDataParallel over gloo (CPU) or
NCCL (GPU). Every rank draws the same global batch order and trains on its own slice of
each batch; gradients are averaged, so K ranks on a global batch B step exactly like one
process on B. Only rank 0 writes metrics and checkpoints.

`drawstudio train --ranks N` starts the ranks itself, in torchrun's environment plus
RANK_THREADS_VARIABLE: each rank's share of the CPU threads."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn

from drawstudio.errors import ConfigError

# set by `drawstudio train --ranks`: the CPU threads of each rank, its share of the cores. Not a
# run setting: the run's own `threads` stays as given, for a later session with other ranks or none.
RANK_THREADS_VARIABLE = "DRAWSTUDIO_RANK_THREADS"


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None  # set for multi-process runs (each rank's own device)
    threads: int = 0  # this rank's fixed CPU threads when `--ranks` shared out the cores (0: the run's setting)

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def shard(self, indices: Tensor) -> Tensor:
        """This rank's contiguous slice of a global batch."""
        if not self.active:
            return indices
        per_rank = len(indices) // self.world_size
        return indices[self.rank * per_rank:(self.rank + 1) * per_rank]

    def takes(self, item: int) -> bool:
        """Whether this rank does the `item`-th of a list of work items shared out in turn."""
        return item % self.world_size == self.rank

    def total(self, values: Tensor) -> Tensor:
        """The sum of `values` over all ranks (every rank must call this at the same step)."""
        if not self.active:
            return values
        values = values.clone()
        torch_dist.all_reduce(values)
        return values

    def average(self, values: Tensor) -> Tensor:
        """The mean of `values` over all ranks (every rank must call this at the same step)."""
        return self.total(values) / self.world_size if self.active else values

    def any_rank(self, flag: bool) -> bool:
        """Whether `flag` is set on any rank (every rank must call this at the same step). A stop
        asked for by a signal must be taken by every rank at the same step: a rank that stopped a
        step before another would leave that one waiting in the next step's collective forever."""
        if not self.active:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
        return bool(value.item())

    def wrap(self, module: nn.Module) -> nn.Module:
        if not self.active:
            return module
        device_ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def init_from_environment(device_name: str, batch_size: int) -> DistInfo:
    """Join the process group torchrun describes in the environment; a plain process gets
    a single-rank DistInfo."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistInfo()
    check_batch_divides(batch_size, world_size)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world_size=world_size, device=device,
                    threads=int(os.environ.get(RANK_THREADS_VARIABLE, "0")))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for the ranks' rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rank_environment(rank: int, ranks: int, threads: int, port: int) -> dict[str, str]:
    """A rank's environment: torchrun's variables, its thread share, and no GPU, so that
    device=auto means the CPU."""
    return dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                WORLD_SIZE=str(ranks), LOCAL_WORLD_SIZE=str(ranks), OMP_NUM_THREADS=str(threads),
                CUDA_VISIBLE_DEVICES="", **{RANK_THREADS_VARIABLE: str(threads)})


def check_batch_divides(batch_size: int, world_size: int) -> None:
    """Every rank trains on an equal slice of the global batch."""
    if batch_size % world_size:
        raise ConfigError(f"batch_size={batch_size} must divide evenly over {world_size} processes")


def leave_together() -> None:
    """After the work, wait for every rank: a rank that exits while another still holds a
    connection to it makes gloo abort that other rank (seen as SIGABRT in a test). Only on
    success: a rank that failed leaves at once, so that torchrun sees it."""
    if torch_dist.is_initialized():
        torch_dist.barrier()


def shutdown() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()
