"""A Trainer on a background thread that other threads steer: start, pause, resume,
single step, stop, retune, checkpoint, snapshot. Commands may come from any thread;
events are emitted from the training thread (the studio re-posts them to its GUI thread).

States: idle → running ⇄ paused → stopped; "finished" when the run reaches its step count
(it can still be stepped or extended); "failed" after an error the user must see.
A non-finite loss pauses instead, so the learning rate can be lowered and training
continued; so does a run directory that cannot be written (disk full, read-only, deleted):
the progress since the last checkpoint stays in memory until a save succeeds.

While it runs, it trains on as many data-parallel ranks as the ranks rule chooses (one process,
unless each rank's slice of a step is large enough for ranks to win): this thread is rank 0 and
worker processes the others (drawstudio/train/rank_team.py). They gather while rank 0 trains
alone and leave whenever training stops running; when one fails, the user is told and rank 0
trains on alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from drawstudio.config import validate_schedule
from drawstudio.errors import DrawStudioError, NonFiniteError, RunDirError
from drawstudio.events import Event
from drawstudio.train.rank_choice import automatic
from drawstudio.train.rank_team import RankTeam, TeamError
from drawstudio.train.run_state import RunState
from drawstudio.train.snapshot import Snapshot
from drawstudio.train.trainer import Trainer

IDLE, RUNNING, PAUSED, FINISHED, STOPPED, FAILED = (RunState.IDLE, RunState.RUNNING, RunState.PAUSED, RunState.FINISHED,
                                                    RunState.STOPPED, RunState.FAILED)
# A snapshot (a reconstruction pass and a sampling run) takes the training thread's time, so
# the next one waits at least this many times as long as the last took: snapshots then cost
# at most 1/20 of training time (the paper's model on a CPU: 0.22 s each, every 2 s was 10%).
SNAPSHOT_COST_RATIO = 20


class TrainingSession:
    def __init__(self, trainer: Trainer, snapshot_interval: float = 1.0, snapshot_size: tuple[int, int] = (16, 16),
                 ranks: tuple[int, int] | None = None):
        self.trainer = trainer
        # (ranks, threads per rank) to train on while running; None: as the ranks rule chooses
        self.ranks = ranks
        self._team: RankTeam | None = None
        self._team_chosen = False
        self.snapshot_interval = snapshot_interval  # seconds between snapshots while running
        self.snapshot_size = snapshot_size  # (reconstructions, samples)
        self.sample_labels: list[int] | None = None
        self.state = IDLE
        self.state_changed = Event("state_changed")  # (state: str)
        self.metrics = trainer.events  # (record: dict), every line of metrics.jsonl
        self.snapshot_ready = Event("snapshot_ready")  # (Snapshot)
        self.error = Event("error")  # (message: str)
        self._commands: list[Callable[[], None]] = []
        self._wake = threading.Condition()
        self._single_steps = 0
        self._stop = False
        self._snapshot_due = True
        self._last_snapshot = 0.0
        self._snapshot_seconds = 0.0  # how long the last snapshot took
        self._thread: threading.Thread | None = None

    # ---- commands (any thread) ------------------------------------------------------

    def start(self) -> None:
        """Start training (or resume it when paused)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drawstudio-training", daemon=True)
            self._set_state(RUNNING)
            self._thread.start()
        else:
            self.resume()

    def pause(self) -> None:
        self._post(lambda: self._set_state(PAUSED) if self.state == RUNNING else None)

    def resume(self) -> None:
        self._post(lambda: self._set_state(RUNNING) if self.state in (PAUSED, FINISHED, IDLE) else None)

    def step_once(self) -> None:
        """One training step, from paused (or idle)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drawstudio-training", daemon=True)
            self._set_state(PAUSED)
            self._thread.start()
        self._post(self._queue_single_step)

    def stop(self, timeout: float | None = 60.0) -> None:
        """Finish the current step, write a checkpoint and end the thread."""
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def request_snapshot(self) -> None:
        self._post(self._mark_snapshot_due)

    def snapshot_now(self) -> Snapshot:
        """The model's drawing as it is, computed on the calling thread: only before training
        starts, while no other thread uses the trainer (after, `request_snapshot`)."""
        if self._thread is not None:
            raise RuntimeError("snapshot_now: the training thread owns the trainer; use request_snapshot")
        return self._snapshot()

    def request_checkpoint(self) -> None:
        self._post(self._checkpoint)

    def request_eval(self) -> None:
        self._post(self._evaluate)

    def set_sample_labels(self, labels: list[int] | None) -> None:
        def apply() -> None:
            self.sample_labels = labels
            self._snapshot_due = True

        self._post(apply)

    def change_schedule(self, lr: float | None = None, decay: float | None = None, every: int | None = None) -> None:
        """Takes effect at the next step; raises ConfigError at once for an impossible value."""
        validate_schedule(lr, decay, every)
        self._post(lambda: self.trainer.change_schedule(lr, decay, every))

    def extend(self, steps: int) -> None:
        """Move the run's end to `steps` (e.g. to keep training a finished run)."""
        def apply() -> None:
            self.trainer.config.train.steps = steps
            if self.state == FINISHED and not self.trainer.finished:
                self._set_state(PAUSED)
            elif self.state == RUNNING and self.trainer.finished:  # an end moved to where it stands
                self._set_state(FINISHED)

        self._post(apply)

    @property
    def snapshot_wait(self) -> float:
        """Seconds between automatic snapshots while running: `snapshot_interval`, or longer when
        snapshots are slow (see SNAPSHOT_COST_RATIO)."""
        return max(self.snapshot_interval, SNAPSHOT_COST_RATIO * self._snapshot_seconds)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- the training thread ------------------------------------------------------

    def _post(self, command: Callable[[], None]) -> None:
        with self._wake:
            self._commands.append(command)
            self._wake.notify_all()
        if self._thread is None:  # not started: apply right here
            self._drain()

    def _drain(self) -> None:
        with self._wake:
            commands, self._commands = self._commands, []
        for command in commands:
            try:
                command()
            except DrawStudioError as error:
                self.error.emit(str(error))

    def _run(self) -> None:
        try:
            self._loop()
        except DrawStudioError as error:
            self.error.emit(str(error))
            self._set_state(FAILED)
        except Exception as error:  # a bug: report it rather than die silently in a thread
            self.error.emit(f"internal error: {type(error).__name__}: {error}")
            self._set_state(FAILED)
            raise
        finally:
            self.trainer.close()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not (self._stop or self._commands or self._should_step()):
                    self._wake.wait()
                stopping = self._stop
            self._drain()
            if stopping:
                self._checkpoint()
                self._set_state(STOPPED)
                return
            if self._should_step():
                self._one_step()
            if self._snapshot_due or (self.state == RUNNING and
                                      time.monotonic() - self._last_snapshot >= self.snapshot_wait):
                self._take_snapshot()

    def _should_step(self) -> bool:
        return (self.state == RUNNING and not self.trainer.finished) or self._single_steps > 0

    def _one_step(self) -> None:
        single = self._single_steps > 0
        self._single_steps = max(0, self._single_steps - 1)
        team = None if single else self._running_team()
        try:
            if team is None:
                self.trainer.advance()
            elif not self._with_team(team.advance) and self.trainer.finished:
                self.trainer.save_checkpoint()  # the last step's own save went with the team
        except (NonFiniteError, RunDirError) as error:
            # The reason goes first: whoever sees the pause (a queued GUI slot) finds it already there.
            self.error.emit(str(error))
            self._set_state(PAUSED)
            return
        if single:
            self._snapshot_due = True
        if self.trainer.finished and self.state == RUNNING:
            self._snapshot_due = True
            self._set_state(FINISHED)

    def _running_team(self) -> RankTeam | None:
        """The ranks to train the next running step on, gathering: None for one process."""
        if not self._team_chosen:
            self._team_chosen = True
            ranks, threads, why = (*self.ranks, "") if self.ranks is not None else automatic(self.trainer.config)
            if ranks > 1:
                self._team = RankTeam(self.trainer, ranks, threads, why.removeprefix(": "))
        if self._team is not None:
            self._with_team(self._team.gather)
        return self._team

    def _with_team(self, work: Callable[[], None]) -> bool:
        """Do the team's `work`; when the team fails, tell the user and train on alone. → whether
        the work was done."""
        try:
            work()
        except TeamError as error:
            self._team = None
            self.error.emit(str(error))
            return False
        return True

    def _evaluate(self) -> None:
        images = self.trainer.config.train.eval_images
        if self._team is None:
            self.trainer.evaluate("test", images)
        else:
            self._with_team(lambda: self._team.evaluate(images))

    def _take_snapshot(self) -> None:
        self._snapshot_due = False
        self._last_snapshot = time.monotonic()
        snapshot = self._snapshot()
        self._snapshot_seconds = time.monotonic() - self._last_snapshot
        self.snapshot_ready.emit(snapshot)

    def _snapshot(self) -> Snapshot:
        recon, samples = self.snapshot_size
        return self.trainer.snapshot(recon, samples, self.sample_labels)

    def _checkpoint(self) -> None:
        self.trainer.save_checkpoint()

    def _queue_single_step(self) -> None:
        if self.state == RUNNING:
            self._set_state(PAUSED)
        self._single_steps += 1

    def _mark_snapshot_due(self) -> None:
        self._snapshot_due = True

    def _set_state(self, state: str) -> None:
        if state != RUNNING and self._team is not None and self._team.gathering:
            self._with_team(self._team.dissolve)  # nothing waits for rank 0 while it does not run
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
