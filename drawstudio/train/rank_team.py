"""Data-parallel ranks for a trainer that a user steers from a thread, as the studio's is:
rank 0 is that trainer, ranks 1..N-1 are worker processes (drawstudio/train/led_rank.py) that
take every step from it.

`drawstudio train --ranks` runs the same loop on every rank; a studio's training pauses, steps
once, changes its schedule and evaluates when asked. So the workers keep no schedule of their
own: before each step rank 0 sends a control vector (what to do, the rate, the run's step count)
and they follow it; the gradients are averaged as under torchrun (drawstudio/train/distributed.py).

The team gathers while rank 0 trains alone: the workers start, load the data and say they are
ready in the rendezvous store rank 0 keeps; at the first step after all are, rank 0 hands them
its whole training state and the team trains. A pause, a single step or the end of the run
dissolves it, so that nothing waits in a collective while the user thinks (the next run of
training gathers it again), and on leaving the ranks check that they hold the same weights. A
worker that fails dissolves the team and rank 0 trains on alone: TeamError says which and why.
"""

from __future__ import annotations

import collections
import gc
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as torch_dist
from torch import nn

from drawstudio.errors import DrawStudioError, NonFiniteError
from drawstudio.train.distributed import DistInfo, check_batch_divides, rank_environment
from drawstudio.train.trainer import Trainer

STEP, EVALUATE, LEAVE = 1.0, 2.0, 3.0  # what a control vector asks of the workers
JOIN_TIMEOUT = timedelta(seconds=120)  # a worker's wait for the store rank 0 keeps
# the longest any rank waits in a collective: rank 0 checkpoints and draws snapshots alone while
# the workers wait for their next step (seconds, for the paper's model), and a worker that hangs
# must not hang the studio's training for ever
COLLECTIVE_TIMEOUT = timedelta(seconds=300)
STOP_GRACE_SECONDS = 10.0  # how long workers have to exit after leaving before they are killed
DEATH_WAIT_SECONDS = 1.0  # after a collective failed, how long a worker that caused it has to be seen gone
STDERR_LINES = 20  # of each worker's stderr, kept to say why it failed
AGREEMENT_TOLERANCE = 1e-6  # relative: ranks stepping from the same state by the same gradients agree exactly


class TeamError(DrawStudioError):
    """A rank of the team failed or disagreed; the team is dissolved and rank 0 trains on alone."""


def ready_key(rank: int) -> str:
    return f"drawstudio/ready/{rank}"


CONFIG_KEY = "drawstudio/config"


class RankTeam:
    """Ranks 1..`ranks`-1 for `trainer`, which becomes rank 0 while the team trains; each rank
    uses `threads` CPU threads. `why` is the ranks rule's reason, recorded whenever the team joins.
    Every method runs on the thread that trains."""

    def __init__(self, trainer: Trainer, ranks: int, threads: int, why: str = ""):
        check_batch_divides(trainer.config.train.batch_size, ranks)
        self.trainer = trainer
        self.ranks = ranks
        self.threads = threads
        self.why = why
        self.joined = False
        self._workers: list[_Worker] = []
        self._store: torch_dist.TCPStore | None = None

    # ---- gathering ------------------------------------------------------------------

    def gather(self) -> None:
        """Start the workers, unless they are starting or training already; returns at once."""
        if self._workers:
            return
        command = [sys.executable, "-m", "drawstudio.train.led_rank"]
        try:
            self._store = torch_dist.TCPStore("127.0.0.1", 0, self.ranks, is_master=True, wait_for_workers=False,
                                              timeout=JOIN_TIMEOUT)
            self._store.set(CONFIG_KEY, self.trainer.config.to_json())
            for rank in range(1, self.ranks):
                environment = rank_environment(rank, self.ranks, self.threads, self._store.port)
                self._workers.append(_Worker(rank, command, environment))
        except (OSError, RuntimeError) as error:  # no port, no process: the machine's limits
            self._abandon()
            raise TeamError(f"could not start {self.ranks - 1} worker process{'es' if self.ranks > 2 else ''} "
                            f"({_first_line(error)}); training goes on in this process alone") from None

    @property
    def gathering(self) -> bool:
        """Whether workers are starting or training."""
        return bool(self._workers)

    def _join_if_ready(self) -> None:
        if self.joined or not self._workers:
            return
        for worker in self._workers:
            if worker.exited:
                self._abandon()
                raise TeamError(f"rank {worker.rank} of {self.ranks} ended before joining ({worker.failure()}); "
                                "training goes on in this process alone")
        assert self._store is not None
        if not self._store.check([ready_key(worker.rank) for worker in self._workers]):
            return
        with self._collective("joining"):
            torch_dist.init_process_group("gloo", store=self._store, rank=0, world_size=self.ranks,
                                          timeout=COLLECTIVE_TIMEOUT)
            torch_dist.broadcast_object_list([self.trainer.state_dict()], src=0)
            self.trainer.join_ranks(DistInfo(rank=0, world_size=self.ranks, device=torch.device("cpu"),
                                             threads=self.threads))
            self.joined = True
        self.trainer.record({"kind": "ranks", "step": self.trainer.step, "ranks": self.ranks,
                             "threads": self.threads, "why": self.why})

    # ---- what the team does ---------------------------------------------------------

    def advance(self) -> None:
        """`Trainer.advance`: on the team once it has gathered, on rank 0 alone until then."""
        self._join_if_ready()
        if not self.joined:
            self.trainer.advance()
            return
        with self._collective("a training step"):
            self._send(STEP)
            self.trainer.advance()

    def evaluate(self, images: int) -> None:
        """`Trainer.evaluate` on the test split, shared out over the team when it trains."""
        if not self.joined:
            self.trainer.evaluate("test", images)
            return
        with self._collective("an evaluation"):
            self._send(EVALUATE, images)
            self.trainer.evaluate("test", images)

    def dissolve(self) -> None:
        """End the team: the workers leave, after checking that every rank holds rank 0's weights,
        and exit. Raises TeamError when they did not agree (rank 0's weights go on training)."""
        if not self.joined:
            self._stop_workers(at_once=True)
            return
        with self._collective("leaving"):
            self._send(LEAVE)
            spread = weight_spread(self.trainer.model)
        self._leave_group()
        self._stop_workers(at_once=False)
        if spread > AGREEMENT_TOLERANCE:
            raise TeamError(f"after training on {self.ranks} ranks, the ranks' weights differ (by {spread:.3g} "
                            "in a checksum): a bug in DRAW Studio; rank 0's weights go on training")

    # ---- the mechanics --------------------------------------------------------------

    def _send(self, command: float, images: int = 0) -> None:
        trainer = self.trainer
        control = torch.tensor([command, trainer.lr, trainer.config.train.steps, images], dtype=torch.float64)
        torch_dist.broadcast(control, src=0)

    @contextmanager
    def _collective(self, what: str) -> Iterator[None]:
        """Work in which every rank takes part: when it fails for the team's sake (a worker died
        or timed out), the team is dissolved and TeamError says so; a problem of rank 0's own (a
        user's error, a bug) dissolves the team too, and is raised as it is."""
        try:
            yield
        except NonFiniteError:  # every rank met it at the same point (the trainer's check is collective)
            raise
        except DrawStudioError:  # rank 0's own (a full disk, memory): the workers may be mid-collective
            self._abandon()
            raise
        except Exception as error:
            dead = [worker for worker in self._workers if worker.exits_within(DEATH_WAIT_SECONDS)]
            self._abandon()
            if not isinstance(error, torch_dist.DistError) and not dead:
                raise
            who = f"rank {dead[0].rank} of {self.ranks} failed ({dead[0].failure()})" if dead else \
                f"the ranks stopped answering ({_first_line(error)})"
            raise TeamError(f"training on {self.ranks} ranks ended during {what}: {who}; "
                            "training goes on in this process alone") from None

    def _abandon(self) -> None:
        """Leave the team without the workers: they are killed, rank 0 trains alone."""
        for worker in self._workers:
            worker.kill()
        self._leave_group()
        self._stop_workers(at_once=True)

    def _leave_group(self) -> None:
        self.trainer.leave_ranks()  # also after a join that failed halfway
        self.joined = False
        gc.collect()  # the distributed wrapper, whose reducer holds the group: freed before the group
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()

    def _stop_workers(self, at_once: bool) -> None:
        for worker in self._workers:
            worker.stop(0.0 if at_once else STOP_GRACE_SECONDS)
        self._workers = []
        self._store = None


def weight_spread(model: nn.Module) -> float:
    """How far the ranks' weights lie apart, relative to their size: from a checksum of each
    rank's weights (all ranks call this together)."""
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
        checksum = torch.stack([flat.sum(), flat.abs().sum()])
    extremes = torch.cat([checksum, -checksum])
    torch_dist.all_reduce(extremes, op=torch_dist.ReduceOp.MAX)
    largest, smallest = extremes[:2], -extremes[2:]
    return float(((largest - smallest).abs() / (1.0 + checksum.abs())).max())


class _Worker:
    """One worker process and the last lines of its stderr."""

    def __init__(self, rank: int, command: list[str], environment: dict[str, str]):
        self.rank = rank
        self.process = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        errors="replace")
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._reader = threading.Thread(target=self._read, name=f"drawstudio-rank-{rank}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                if line.strip():
                    self._tail.append(line.rstrip())

    @property
    def exited(self) -> bool:
        return self.process.poll() is not None

    def failure(self) -> str:
        """What the worker said last, with how it ended."""
        self._reader.join(timeout=2.0)
        code = self.process.poll()
        how = "still running" if code is None else \
            f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        said = self._tail[-1] if self._tail else ""
        return f"{how}: {said}" if said else how

    def exits_within(self, seconds: float) -> bool:
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def stop(self, grace: float) -> None:
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=2.0)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]

