"""What the window has open: a run it trains, or a run another process trains that it follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drawstudio.config import RunConfig
from drawstudio.devices import describe
from drawstudio.events import EventSource
from drawstudio.tensorboard_log import TensorBoardLog, attach as attach_tensorboard, require as require_tensorboard
from drawstudio.train.follow import RunFollower
from drawstudio.train.metrics import read_metrics
from drawstudio.train.runs import is_run, load_run_config, reopen_config
from drawstudio.train.session import TrainingSession
from drawstudio.train.trainer import Trainer

REOPENED_FROM_DIALOG = ("data_dir", "device")


@dataclass
class OpenedRun:
    run_dir: Path
    config: RunConfig
    source: EventSource
    session: TrainingSession | None = None  # None when following
    follower: RunFollower | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # records already on disk
    classes: list[str] | None = None  # class names of a conditional model
    device: str = ""
    tensorboard: TensorBoardLog | None = None  # when the run writes TensorBoard logs

    @property
    def read_only(self) -> bool:
        return self.session is None

    def set_sample_labels(self, labels: list[int] | None) -> None:
        target = self.session if self.session is not None else self.follower
        if target is not None:
            target.set_sample_labels(labels)

    def start_source(self) -> None:
        """Start what runs on its own (the follower); training waits for the user."""
        if self.follower is not None:
            self.follower.start()

    def close(self, timeout: float | None = 60.0) -> None:
        """Stop training (writing a checkpoint) or following, and wait for the thread."""
        if self.session is not None:
            if self.session.running:
                self.session.stop(timeout)
            else:
                self.session.trainer.close()
        if self.follower is not None:
            self.follower.stop(timeout)
        if self.tensorboard is not None:
            self.tensorboard.close()


def open_training(run_dir: Path, config: RunConfig | None = None, *, data_dir: str | None = None,
                  snapshot_interval: float = 2.0) -> OpenedRun:
    """Create a run from `config`, or reopen `run_dir` to resume it (its own config wins then,
    except for where its data is and which device to use)."""
    run_dir = Path(run_dir).expanduser()
    if is_run(run_dir):
        # the dialog's other settings describe a new run; of a stored one, only where its data is
        # and where it trains may change (the rule the command line follows)
        changes = {} if config is None else {name: getattr(config.train, name) for name in REOPENED_FROM_DIALOG}
        if data_dir is not None:
            changes["data_dir"] = data_dir
        config, _ = reopen_config(run_dir, train=changes)
    elif config is None:
        config = load_run_config(run_dir)  # raises the reason it is not a run
    if config.train.tensorboard is not None:
        require_tensorboard()
    trainer = Trainer(config, run_dir)
    try:
        session = TrainingSession(trainer, snapshot_interval=snapshot_interval)
        # a conditional model's data has its class names: the trainer refuses data without them
        classes = trainer.data.classes if config.model.num_classes else None
        return OpenedRun(run_dir, config, session, session=session, history=read_metrics(run_dir / "metrics.jsonl"),
                         classes=classes, device=describe(trainer.device), tensorboard=attach_tensorboard(trainer))
    except BaseException:
        trainer.close()  # the run's lock: opening it again must not find this trainer holding it
        raise


def open_following(run_dir: Path, *, poll_seconds: float = 1.0) -> OpenedRun:
    """Watch a run another process writes; nothing in it is modified."""
    run_dir = Path(run_dir).expanduser()
    config = load_run_config(run_dir)
    follower = RunFollower(run_dir, poll_seconds=poll_seconds)
    classes = [str(k) for k in range(config.model.num_classes)] if config.model.num_classes else None
    return OpenedRun(run_dir, config, follower, follower=follower, classes=classes,
                     device=f"followed run ({config.train.device} there)")
