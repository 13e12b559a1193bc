"""What the window has open: a run it trains, a run another process trains that it follows,
or a trained model shipped with DRAW Studio that it shows read-only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drawstudio.config import RunConfig
from drawstudio.events import EventSource
from drawstudio.export.tensorboard import TensorBoardLog
from drawstudio.export.tensorboard import attach as attach_tensorboard
from drawstudio.export.tensorboard import require as require_tensorboard
from drawstudio.pretrained.loading import images_note, start_from_pretrained
from drawstudio.pretrained.viewer import PretrainedViewer
from drawstudio.system.devices import describe
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
    session: TrainingSession | None = None  # None when following or showing a trained model
    follower: RunFollower | None = None
    viewer: PretrainedViewer | None = None  # a shipped model, shown read-only
    history: list[dict[str, Any]] = field(default_factory=list)  # records already on disk
    classes: list[str] | None = None  # class names of a conditional model
    device: str = ""
    tensorboard: TensorBoardLog | None = None  # when the run writes TensorBoard logs
    note: str = ""  # what the user should know about what is shown (a trained model without its data)

    @property
    def read_only(self) -> bool:
        return self.session is None

    @property
    def pretrained(self) -> str | None:
        """The shipped model's name, when that is what is open."""
        return self.viewer.pretrained.name if self.viewer is not None else None

    def set_sample_labels(self, labels: list[int] | None) -> None:
        target = self.session or self.follower or self.viewer
        if target is not None:
            target.set_sample_labels(labels)

    def start_source(self) -> None:
        """Start what runs on its own (the follower, the trained model's drawing); training waits
        for the user."""
        for source in (self.follower, self.viewer):
            if source is not None:
                source.start()

    def close(self, timeout: float | None = 60.0) -> None:
        """Stop training (writing a checkpoint) or following, and wait for the thread."""
        if self.session is not None:
            if self.session.running:
                self.session.stop(timeout)
            else:
                self.session.trainer.close()
        for source in (self.follower, self.viewer):
            if source is not None:
                source.stop(timeout)
        if self.tensorboard is not None:
            self.tensorboard.close()


def open_training(run_dir: Path, config: RunConfig | None = None, *, data_dir: str | None = None,
                  snapshot_interval: float = 2.0, pretrained: str | None = None) -> OpenedRun:
    """Create a run from `config` (starting from the weights of the shipped model `pretrained`
    when given), or reopen `run_dir` to resume it (its own config wins then, except for where
    its data is and which device to use)."""
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
        if pretrained is not None:
            start_from_pretrained(trainer, pretrained)
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


def open_trained_model(name: str, *, data_dir: str | None = None) -> OpenedRun:
    """Show the shipped model `name` read-only: its card's curve and its drawing."""
    viewer = PretrainedViewer(name, data_dir=data_dir)
    pretrained = viewer.pretrained
    config = pretrained.config
    classes = pretrained.card.get("classes") if config.model.num_classes else None
    return OpenedRun(pretrained.folder, config, viewer, viewer=viewer, classes=classes,
                     device="cpu (trained model)", note=images_note(pretrained, data_dir))
