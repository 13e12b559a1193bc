"""The distributed bookkeeping as values, in one process: which slice of a batch a rank
trains on, the average over ranks, and what torchrun's environment makes of a process."""

import pytest
import torch
from torch import nn

from drawstudio.errors import ConfigError
from drawstudio.train import distributed
from drawstudio.train.distributed import DistInfo, init_from_environment


def test_a_single_process_trains_on_the_whole_batch_writes_the_run_and_wraps_nothing():
    single = DistInfo()
    indices = torch.arange(6)
    assert single.shard(indices) is indices and single.is_writer and not single.active
    values = torch.tensor([1.0, 2.0])
    assert single.average(values) is values
    module = nn.Linear(2, 2)
    assert single.wrap(module) is module


def test_each_rank_trains_on_its_own_contiguous_slice_and_only_rank_zero_writes():
    indices = torch.arange(10, 22)
    slices = [DistInfo(rank, 3).shard(indices).tolist() for rank in range(3)]
    assert slices == [list(range(10, 14)), list(range(14, 18)), list(range(18, 22))]
    assert [DistInfo(rank, 3).is_writer for rank in range(3)] == [True, False, False]
    assert DistInfo(1, 2).active


def test_the_average_over_ranks_is_the_all_reduced_sum_over_the_world_size(monkeypatch):
    reduced = []

    def all_reduce(values):  # as if the other rank held 3 times these values
        reduced.append(values)
        values.mul_(4)

    monkeypatch.setattr(distributed.torch_dist, "all_reduce", all_reduce)
    values = torch.tensor([2.0, 6.0])
    assert DistInfo(0, 2).average(values).tolist() == [4.0, 12.0]
    assert values.tolist() == [2.0, 6.0] and reduced[0] is not values  # the caller's tensor is untouched


def test_a_stop_any_rank_saw_is_every_ranks_through_the_maximum_over_ranks(monkeypatch):
    reduced = []

    def all_reduce(values, op):  # as if another rank had seen the stop
        reduced.append(op)
        values.fill_(1.0)

    monkeypatch.setattr(distributed.torch_dist, "all_reduce", all_reduce)
    assert DistInfo(0, 2).any_rank(False) is True
    assert DistInfo().any_rank(True) is True and DistInfo().any_rank(False) is False
    assert reduced == [distributed.torch_dist.ReduceOp.MAX]  # a single process asks no one


def test_a_plain_process_is_a_single_rank(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_from_environment("cpu", 7) == DistInfo()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert init_from_environment("cpu", 7) == DistInfo()


def test_a_torchrun_rank_on_the_cpu_joins_a_gloo_group_as_its_rank(monkeypatch):
    joined = []
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.torch_dist, "init_process_group", joined.append)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert init_from_environment("cpu", 8) == DistInfo(rank=1, world_size=2, device=torch.device("cpu"))
    assert joined == ["gloo"]
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: True)
    assert init_from_environment("auto" if not torch.cuda.is_available() else "cpu", 8).rank == 1
    assert joined == ["gloo"]  # an existing group is kept


def test_a_rank_that_ranks_started_trains_on_its_share_of_the_threads_and_a_torchrun_one_on_the_runs(monkeypatch):
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv(distributed.RANK_THREADS_VARIABLE, raising=False)
    assert init_from_environment("cpu", 8).threads == 0
    monkeypatch.setenv(distributed.RANK_THREADS_VARIABLE, "3")
    assert init_from_environment("cpu", 8).threads == 3


def test_a_batch_that_does_not_divide_over_the_processes_is_refused_naming_both(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="^batch_size=8 must divide evenly over 3 processes$"):
        init_from_environment("cpu", 8)


def test_leaving_and_shutting_down_without_a_group_do_nothing_and_with_one_use_it(monkeypatch):
    calls = []
    monkeypatch.setattr(distributed.torch_dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(distributed.torch_dist, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: False)
    distributed.leave_together()
    distributed.shutdown()
    assert calls == []
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: True)
    distributed.leave_together()
    distributed.shutdown()
    assert calls == ["barrier", "destroy"]


def test_a_distributed_model_is_wrapped_for_its_rank_s_gpu_or_for_the_cpu(monkeypatch):
    wrapped = []
    monkeypatch.setattr(distributed.nn.parallel, "DistributedDataParallel",
                        lambda module, device_ids: wrapped.append((module, device_ids)) or "wrapped")
    module = nn.Linear(2, 2)
    assert DistInfo(0, 2, torch.device("cpu")).wrap(module) == "wrapped"
    DistInfo(1, 2, torch.device("cuda", 1)).wrap(module)
    DistInfo(1, 2).wrap(module)
    assert wrapped == [(module, None), (module, [1]), (module, None)]


@pytest.fixture
def fake_cuda(monkeypatch):
    """A machine with GPUs, as far as the process group set-up can tell; → what was called."""
    calls = []
    monkeypatch.setattr(distributed.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(distributed.torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.torch_dist, "init_process_group", lambda backend: calls.append(("init", backend)))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    return calls


@pytest.mark.parametrize("name", ["auto", "cuda"])
def test_a_gpu_rank_uses_the_gpu_of_its_local_rank_and_nccl(fake_cuda, monkeypatch, name):
    monkeypatch.setenv("LOCAL_RANK", "3")
    info = init_from_environment(name, 8)
    assert info == DistInfo(rank=1, world_size=2, device=torch.device("cuda", 3))
    assert fake_cuda == [("set_device", torch.device("cuda", 3)), ("init", "nccl")]


def test_without_a_local_rank_the_gpu_is_the_global_rank(fake_cuda, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert init_from_environment("cuda:0", 8).device == torch.device("cuda", 1)


def test_a_cpu_rank_stays_on_the_cpu_even_with_gpus_present(fake_cuda, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert init_from_environment("cpu", 8).device == torch.device("cpu")
    assert fake_cuda == [("init", "gloo")]
