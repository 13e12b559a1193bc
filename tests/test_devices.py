import pytest
import torch

from drawstudio.system.devices import describe


@pytest.mark.parametrize(("threads", "text"), [(1, "cpu (1 thread)"), (2, "cpu (2 threads)")])
def test_cpu_description_counts_threads_in_good_english(monkeypatch, threads, text):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert describe(torch.device("cpu")) == text
