"""The states a run shown in the studio can be in, one type for the training session, the
follower of a run another process trains, the window and the status bar."""

from __future__ import annotations

from enum import Enum


class RunState(str, Enum):
    """A str enum, so a state reads as its label in events, messages and the status bar."""

    NO_RUN = "no run"
    IDLE = "idle"  # a session before its first step
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # at its step count; it can still be stepped or extended
    STOPPED = "stopped"  # the thread ended after a last checkpoint
    FAILED = "failed"  # after an error the user must see
    FOLLOWING = "following"  # another process trains; curves and canvas follow its files
    WAITING = "waiting for a checkpoint"  # following a run that has none yet, or loading a trained model
    PRETRAINED = "trained model, read-only"  # a shipped model: explored, never trained here

    def __str__(self) -> str:
        return self.value

    @property
    def training(self) -> bool:
        """Steps are being taken, here or by the followed process."""
        return self in (RunState.RUNNING, RunState.FOLLOWING)
