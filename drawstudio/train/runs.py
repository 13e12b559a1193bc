"""Opening an existing run directory: its config, and a read-only trainer at its newest
checkpoint for evaluation, sampling and the studio's follow mode."""

from __future__ import annotations

from pathlib import Path

from drawstudio.config import RunConfig
from drawstudio.data.base import ImageData
from drawstudio.errors import RunDirError
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.trainer import Trainer


def config_path(run_dir: Path) -> Path:
    return Path(run_dir) / "config.json"


def is_run(run_dir: Path) -> bool:
    return config_path(run_dir).is_file()


def load_run_config(run_dir: Path) -> RunConfig:
    path = config_path(run_dir)
    if not Path(run_dir).is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a run directory (no config.json)")
    return RunConfig.load(path)


def open_run(run_dir: Path, *, device: str | None = None, data_dir: str | None = None,
             data: ImageData | None = None) -> Trainer:
    """A trainer holding the run's newest checkpoint that writes nothing to the run."""
    config = load_run_config(run_dir)
    if device is not None:
        config.train.device = device
    if data_dir is not None:
        config.train.data_dir = data_dir
    trainer = Trainer(config, None, data=data)
    found = ckpt.newest_loadable(run_dir, trainer.device)
    if found is None:
        raise RunDirError(f"{run_dir}: the run has no checkpoint yet")
    path, state, trainer.skipped_checkpoints = found
    trainer.load_state(path, state)
    trainer.resumed_from = path
    return trainer
