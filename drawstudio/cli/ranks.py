"""`drawstudio train --ranks N`: data-parallel training in N processes on this machine's CPU,
started and watched by this one, without torchrun; without --ranks, as many as the ranks rule
chooses (drawstudio/train/rank_choice.py: one process unless each rank's slice of a step is
large enough for ranks to win, as for the paper's model at batch 128), with a line saying so.

The ranks are this command again without --ranks, in torchrun's environment, so they train as
under torchrun (`drawstudio.train.distributed`): the same global batch order, each rank its
slice, gradients averaged, rank 0 alone writing the run. This process writes nothing to the
run. It shows rank 0's output as it is and the other ranks' stderr line by line under their
rank (their stdout, a copy of rank 0's messages, is dropped); it passes Ctrl-C and SIGTERM on
to every rank, which then stop after the same step, rank 0 with a checkpoint; and when a rank
fails it stops the others, which would otherwise wait for it forever.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO

from drawstudio.cli.train import cmd_train, train_config
from drawstudio.errors import ConfigError
from drawstudio.system.threads import free_cores
from drawstudio.train.distributed import check_batch_divides, free_port, rank_environment
from drawstudio.train.rank_choice import automatic

RANKS_FLAG = "--ranks"
POLL_SECONDS = 0.1  # how often the ranks are looked at
STOP_GRACE_SECONDS = 10.0  # after a rank failed, how long the others have to exit before they are killed


def launch(args: argparse.Namespace, argv: list[str]) -> int:
    """Train as `drawstudio ARGV` asks: in `args.ranks` processes, or for no --ranks in as many as
    the ranks rule chooses (one: this process trains); → the exit code. An impossible setting
    raises ConfigError before any process starts."""
    ranks = args.ranks
    if ranks is not None and ranks < 1:
        raise ConfigError(f"--ranks {ranks} must be at least 1")
    if "WORLD_SIZE" in os.environ:
        if ranks is None:  # a rank, or a process of torchrun's: it trains
            return cmd_train(args)
        raise ConfigError("--ranks starts processes of its own: under torchrun leave it out "
                          "(torchrun's --nproc-per-node says how many)")
    settings = train_config(args)  # checked here, once, rather than by every rank
    config = settings[0]
    if ranks is None:
        ranks, threads, why = automatic(config)
    else:
        threads, why = 0, ""
    if ranks == 1:
        if why:
            print(why, file=sys.stderr)
        return cmd_train(args, settings)
    if config.train.device.startswith("cuda"):
        raise ConfigError(f"--ranks trains on the CPU, not on device={config.train.device!r}; for one process "
                          "per GPU use torchrun --nproc-per-node N -m drawstudio train ...")
    check_batch_divides(config.train.batch_size, ranks)
    threads = threads or threads_per_rank(config.train.threads, ranks)
    print(f"training on {ranks} ranks of {threads} thread{'' if threads == 1 else 's'} each (gloo){why}",
          file=sys.stderr)
    return run_ranks([sys.executable, "-m", "drawstudio", *without_ranks(argv)], ranks, threads)


def threads_per_rank(threads: int, ranks: int) -> int:
    """Each rank's share of the threads asked for or, for 0, of the cores other processes leave
    free now; at least one."""
    return max(1, (threads or free_cores()) // ranks)


def without_ranks(argv: list[str]) -> list[str]:
    """`argv` without its --ranks option, however written: `--ranks 2`, `--ranks=2`, or a prefix
    of it that argparse took (`--ran 2`; "--r" would have been ambiguous). The ranks must not
    start ranks of their own."""
    kept: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        name, equals, _ = token.partition("=")
        if len(name) > len("--r") and RANKS_FLAG.startswith(name):
            if not equals:
                next(tokens, None)  # its value
            continue
        kept.append(token)
    return kept


def run_ranks(command: list[str], ranks: int, threads: int) -> int:
    """Run `command` as the ranks 0..ranks-1 of one job and wait for them all; → the exit code:
    0, the first failed rank's, or 128 + the signal that stopped them."""
    signals: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: signals.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: list[subprocess.Popen] = []
    readers: list[threading.Thread] = []
    try:
        port = free_port()
        for rank in range(ranks):
            quiet = subprocess.DEVNULL if rank else None
            process = subprocess.Popen(command, env=rank_environment(rank, ranks, threads, port), stdout=quiet,
                                       stderr=subprocess.PIPE if rank else None, text=True, errors="replace")
            processes.append(process)
            if process.stderr is not None:
                readers.append(_pass_on(process.stderr, f"rank {rank}: "))
        failed = _watch(processes, signals)
    finally:
        for process in processes:  # still running only when this process itself failed
            if process.poll() is None:
                process.kill()
                process.wait()
        for reader in readers:
            reader.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed is not None:
        rank, code = failed
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        print(f"drawstudio: error: rank {rank} of {ranks} failed ({how}), so every rank was stopped",
              file=sys.stderr)
        return code if code > 0 else 128 - code
    return 128 + signals[0] if signals else 0


def _watch(processes: list[subprocess.Popen], signals: list[int]) -> tuple[int, int] | None:
    """Wait until every rank has exited, passing each signal in `signals` (as they come) on to
    them all and, once one has failed, stopping the others. → (rank, exit code) of the first
    rank that failed, None when none did."""
    passed_on, failed, kill_at = 0, None, math.inf
    # a list, not any(): every rank must be polled, or a failed one behind a running one goes unseen
    while [process for process in processes if process.poll() is None]:
        while passed_on < len(signals):
            _send(processes, signals[passed_on])
            passed_on += 1
        if failed is None:
            failed = _first_failure(processes, signals)
            if failed is not None:
                _send(processes, signal.SIGTERM)
                kill_at = time.monotonic() + STOP_GRACE_SECONDS
        elif time.monotonic() > kill_at:  # stuck where a signal handler does not run (a collective)
            _send(processes, signal.SIGKILL)
        time.sleep(POLL_SECONDS)
    return failed or _first_failure(processes, signals)


def _first_failure(processes: list[subprocess.Popen], signals: list[int]) -> tuple[int, int] | None:
    """The lowest rank that has exited with an error; exiting on a signal passed on is no error."""
    for rank, process in enumerate(processes):
        code = process.returncode
        if code and not any(code in (-signum, 128 + signum) for signum in signals):
            return rank, code
    return None


def _send(processes: list[subprocess.Popen], signum: int) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signum)


def _pass_on(stream: IO[str], prefix: str) -> threading.Thread:
    """A thread that copies each line of `stream` to stderr after `prefix`, until the stream ends."""

    def copy() -> None:
        with stream:
            for line in stream:
                sys.stderr.write(prefix + line)
                sys.stderr.flush()

    thread = threading.Thread(target=copy, name=f"drawstudio-{prefix.rstrip(': ')}", daemon=True)
    thread.start()
    return thread
