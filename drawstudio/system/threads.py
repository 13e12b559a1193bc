"""How many CPU threads training uses when the user leaves the choice to us (`threads = 0`).

The rule: one thread per core that other processes leave free, measured from /proc over
the last interval and rechecked while training runs. Niced processes count like any
other (with the kernel's autogroups, a nice value only orders processes within one
session). Our own process's time (the studio's GUI thread, an evaluation) does not count.

Why a rule and not a fixed setting, measured on a 2-core machine (T=16, batch 64,
images/s; OpenMP's default wait policy, where idle workers spin briefly before sleeping):

    alone, 2 threads                                 833
    alone, 2 threads, OMP_WAIT_POLICY=PASSIVE        494  (workers sleep at once: 40% slower)
    beside another 2-thread run, 2 threads each      229 + 215  (workers spin on taken cores)
    beside another 2-thread run, PASSIVE             518 + 512
    beside another run, 1 thread each                601 + 599

Sleeping workers cost 40% on a machine of one's own; spinning workers collapse when the
cores are shared; giving up the taken cores wins in both cases.

The OpenMP thread count is a per-thread setting once a thread has used it, so
`ThreadGovernor.adjust` must run on the thread that trains.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

CHECK_EVERY_SECONDS = 15.0  # how often a training run re-measures what other processes take
FIRST_CHECK_SECONDS = 2.0  # the first look comes sooner, so a run started on a busy machine adapts at once
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_DEFAULT_THREADS = torch.get_num_threads()  # PyTorch's own choice, before anything here changes it


@dataclass(frozen=True)
class CpuTimes:
    wall: float  # seconds, monotonic
    taken: float  # core-seconds all processes ran (or the host took from this virtual machine)
    own: float  # core-seconds this process ran


def read_cpu_times() -> CpuTimes | None:
    """The machine's and this process's CPU time so far; None where /proc/stat is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...: all but idle and iowait are taken
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    own = os.times()
    return CpuTimes(time.monotonic(), (user + nice + system + irq + softirq + steal) / _TICKS_PER_SECOND,
                    own.user + own.system)


def cores_taken_by_others(before: CpuTimes, after: CpuTimes) -> float:
    """Cores other processes kept busy on average between two readings."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    others = (after.taken - before.taken) - (after.own - before.own)
    return max(0.0, others / wall)


def threads_for(cores: int, taken_by_others: float) -> int:
    """One thread per core the others leave free; always at least one."""
    return max(1, min(cores, cores - round(taken_by_others)))


def default_threads() -> int:
    """What PyTorch would use on this machine (one per core)."""
    return _DEFAULT_THREADS


def free_cores(seconds: float = 1.0) -> int:
    """The rule applied once, over `seconds`: for `drawstudio train --ranks`, which shares the
    free cores out among its processes before they start (a governor in each rank would count
    the other ranks as other processes and give up their cores)."""
    before = read_cpu_times()
    time.sleep(seconds)
    after = read_cpu_times()
    if before is None or after is None:
        return default_threads()
    return threads_for(default_threads(), cores_taken_by_others(before, after))


def serial_gui_thread() -> None:
    """Keep the calling thread's own PyTorch work on one thread, for a GUI thread beside a
    training thread. OpenMP (libgomp) lets idle workers spin only while the process has no
    more worker threads than cores: a GUI thread with a worker of its own plus the training
    thread's put a 2-core machine over that line, and every parallel operation of training
    then waits for sleeping workers (measured, T=16, batch 64: 886 images/s trained from the
    main thread, 514 from a thread once the main thread had used two, 888 when it had used
    one). Call before the thread runs any PyTorch operation: once its workers exist, they stay."""
    torch.set_num_threads(1)


class ThreadGovernor:
    """Applies the thread rule (first after `first` seconds, then every `every`), or a fixed
    count the user chose."""

    def __init__(self, fixed: int = 0, every: float = CHECK_EVERY_SECONDS, first: float = FIRST_CHECK_SECONDS,
                 read: Callable[[], CpuTimes | None] = read_cpu_times,
                 apply: Callable[[int], None] = torch.set_num_threads,
                 clock: Callable[[], float] = time.monotonic):
        self.fixed = fixed
        self.every = every
        self._read = read
        self._apply = apply
        self._clock = clock  # the same clock as `read`'s wall time
        self._last = read() if not fixed else None
        self._wait = first
        self.threads = fixed or default_threads()
        self._applied: tuple[int, int] | None = None  # (thread id, count) last applied

    @property
    def rule(self) -> str:
        """How the thread count is chosen, for reports."""
        if self.fixed:
            return f"{self.fixed} (fixed by the user)"
        return f"one per core other processes leave free, rechecked every {self.every:g} s (now {self.threads})"

    def adjust(self) -> int:
        """Called from the training thread between steps: the thread count to train with."""
        due = self._last is not None and self._clock() - self._last.wall >= self._wait
        now = self._read() if due else None  # /proc is read only when a check is due, not every step
        if now is not None:
            self.threads = threads_for(default_threads(), cores_taken_by_others(self._last, now))
            self._last, self._wait = now, self.every
        if self._applied != (threading.get_ident(), self.threads):
            self._apply(self.threads)
            self._applied = (threading.get_ident(), self.threads)
        return self.threads
