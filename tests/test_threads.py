"""The CPU thread rule: one thread per core other processes leave free (drawstudio/system/threads.py)."""

import threading
import time

import pytest

from drawstudio.system.threads import (
    CpuTimes,
    ThreadGovernor,
    cores_taken_by_others,
    free_cores,
    read_cpu_times,
    threads_for,
)


def test_cores_taken_by_others_subtracts_this_process_from_the_machine():
    before = CpuTimes(wall=100.0, taken=50.0, own=10.0)
    # over 10 s the machine ran 17 core-seconds, 5 of them ours: others took 1.2 cores
    after = CpuTimes(wall=110.0, taken=67.0, own=15.0)
    assert cores_taken_by_others(before, after) == pytest.approx(1.2)


def test_cores_taken_by_others_is_never_negative_and_zero_without_elapsed_time():
    before = CpuTimes(wall=5.0, taken=10.0, own=2.0)
    assert cores_taken_by_others(before, CpuTimes(wall=6.0, taken=10.5, own=3.0)) == 0.0
    assert cores_taken_by_others(before, before) == 0.0


@pytest.mark.parametrize("cores, others, expected", [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 2.0, 1), (2, 5.0, 1), (8, 2.7, 5),
])
def test_threads_for_leaves_the_cores_others_take(cores, others, expected):
    assert threads_for(cores, others) == expected


class FakeClock:
    def __init__(self):
        self.times = CpuTimes(0.0, 0.0, 0.0)

    def advance(self, seconds: float, others: float, own: float = 0.0) -> None:
        t = self.times
        self.times = CpuTimes(t.wall + seconds, t.taken + (others + own) * seconds, t.own + own * seconds)


def test_free_cores_applies_the_rule_once_over_the_interval_and_without_proc_stat_gives_every_core(monkeypatch):
    monkeypatch.setattr("drawstudio.system.threads.default_threads", lambda: 4)
    clock = FakeClock()
    monkeypatch.setattr("drawstudio.system.threads.read_cpu_times", lambda: clock.times)
    monkeypatch.setattr("drawstudio.system.threads.time.sleep",
                        lambda seconds: clock.advance(seconds, others=1.7, own=0.5))
    assert free_cores(seconds=2.0) == 2 and clock.times.wall == 2.0
    monkeypatch.setattr("drawstudio.system.threads.read_cpu_times", lambda: None)
    assert free_cores() == 4


def test_governor_drops_to_the_free_cores_after_the_first_check_and_returns_when_they_free_up(monkeypatch):
    monkeypatch.setattr("drawstudio.system.threads.default_threads", lambda: 2)
    clock, applied = FakeClock(), []
    governor = ThreadGovernor(every=15.0, first=2.0, read=lambda: clock.times, apply=applied.append,
                              clock=lambda: clock.times.wall)
    assert governor.adjust() == 2  # before the first check: every core
    clock.advance(1.0, others=1.0, own=2.0)
    assert governor.adjust() == 2  # too early to judge
    clock.advance(1.5, others=1.0, own=2.0)
    assert governor.adjust() == 1  # another process keeps one core busy
    clock.advance(10.0, others=0.0, own=1.0)
    assert governor.adjust() == 1  # the next check waits `every` seconds
    clock.advance(6.0, others=0.0, own=1.0)
    assert governor.adjust() == 2
    assert applied == [2, 1, 2]  # set only when the count changes


def test_governor_counts_own_busy_threads_as_ours_not_as_others(monkeypatch):
    monkeypatch.setattr("drawstudio.system.threads.default_threads", lambda: 2)
    clock = FakeClock()
    governor = ThreadGovernor(read=lambda: clock.times, apply=lambda n: None, first=1.0,
                              clock=lambda: clock.times.wall)
    clock.advance(5.0, others=0.2, own=2.0)  # our two threads plus a trickle from elsewhere
    assert governor.adjust() == 2


def test_governor_keeps_a_fixed_count_and_applies_it_on_each_new_thread():
    applied = []
    governor = ThreadGovernor(fixed=3, apply=applied.append, read=lambda: pytest.fail("a fixed count reads nothing"))
    assert governor.adjust() == 3
    assert governor.adjust() == 3
    worker = threading.Thread(target=governor.adjust)
    worker.start()
    worker.join()
    assert applied == [3, 3]  # once for this thread, once for the worker: the setting is per thread
    assert "fixed" in governor.rule


def test_read_cpu_times_sees_this_process_work():
    first = read_cpu_times()
    assert first is not None
    # os.times() counts in clock ticks (10 ms): work well past a few ticks however fast the CPU
    started = time.process_time()
    while time.process_time() - started < 0.1:
        sum(i * i for i in range(10_000))
    second = read_cpu_times()
    assert second.own > first.own and second.wall > first.wall and second.taken >= first.taken


def test_a_serial_gui_thread_leaves_the_training_thread_its_cores():
    """Run in a fresh process: the main thread goes serial before any PyTorch work, a training
    thread then runs with every core, and the main thread's later work stays serial although
    the training thread set PyTorch's process-wide default back."""
    import subprocess
    import sys

    program = """
import threading, torch
from drawstudio.system.threads import ThreadGovernor, default_threads, serial_gui_thread
serial_gui_thread()
seen = []
def train():
    governor = ThreadGovernor(fixed=default_threads())
    governor.adjust()
    torch.randn(256, 256) @ torch.randn(256, 256)
    seen.append(torch.get_num_threads())
worker = threading.Thread(target=train)
worker.start()
worker.join()
torch.randn(64, 64).sigmoid()
print(default_threads(), seen[0], torch.get_num_threads())
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cores, training, gui = map(int, done.stdout.split())
    assert (training, gui) == (cores, 1)


def test_governor_reads_proc_only_when_a_check_is_due_not_every_step():
    clock, reads = FakeClock(), []

    def read():
        reads.append(clock.times.wall)
        return clock.times

    governor = ThreadGovernor(every=15.0, first=2.0, read=read, apply=lambda n: None, clock=lambda: clock.times.wall)
    for _ in range(50):
        clock.advance(0.01, others=0.0)
        governor.adjust()
    assert reads == [0.0]  # at construction only: 0.5 s has passed, the first check is due at 2 s
    clock.advance(2.0, others=0.0)
    governor.adjust()
    assert len(reads) == 2
