"""Opening an existing run directory: its config, and a read-only trainer at its newest
checkpoint for evaluation, sampling and the studio's follow mode."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from drawstudio.config import RunConfig
from drawstudio.data.base import ImageData
from drawstudio.errors import ConfigError, RunDirError
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


# on an existing run these training settings may change; the rest of its config is fixed at creation
RESUMABLE = {"steps", "device", "threads", "data_dir", "eval_every", "eval_images", "autosave_seconds",
             "log_every", "compile", "amp", "fused", "tensorboard", "plateau_factor", "plateau_patience",
             "ema_decay"}
# these change the learning-rate schedule from the step the run has reached, not from step 0
SCHEDULE_FIELDS = {"lr": "lr", "lr_decay": "decay", "decay_every": "every"}


def reopen_config(run_dir: Path, model: dict[str, Any] | None = None, train: dict[str, Any] | None = None
                  ) -> tuple[RunConfig, dict[str, Any]]:
    """An existing run's config with the settings asked for (config field → value) applied,
    and the schedule change they make (for `Trainer.change_schedule`; empty when none). A
    model setting or a fixed training setting that differs from the run's is refused."""
    config = load_run_config(run_dir)
    model, train = model or {}, train or {}
    differing = {k: v for k, v in model.items() if getattr(config.model, k) != v}
    if differing:
        raise ConfigError(f"{run_dir}: the run was created with a different model "
                          f"({_describe(differing, config.model)}); use a new run directory for a new model")
    fixed = {k: v for k, v in train.items()
             if k not in RESUMABLE and k not in SCHEDULE_FIELDS and getattr(config.train, k) != v}
    if fixed:
        raise ConfigError(f"{run_dir}: cannot change {_describe(fixed, config.train)} of an existing run")
    # every value asked for, even one equal to the config's: the schedule may have changed since
    # the run was created (a resume, the studio, the plateau rule), so "--lr-decay 1" on a run
    # created with 1 still stops a decay begun later
    schedule = {SCHEDULE_FIELDS[k]: v for k, v in train.items() if k in SCHEDULE_FIELDS}
    # refused before the trainer exists, which already appends to the run's metrics
    dataclasses.replace(config.train, **{k: v for k, v in train.items() if k in SCHEDULE_FIELDS}).validate()
    for key, value in train.items():
        if key in RESUMABLE:
            setattr(config.train, key, value)
    config.validate()
    return config, schedule


def _describe(changes: dict[str, Any], current: Any) -> str:
    return ", ".join(f"{k}: {getattr(current, k)!r} → {v!r}" for k, v in changes.items())


def reader_config(config: RunConfig, device: str | None = None, data_dir: str | None = None,
                  threads: int | None = None) -> RunConfig:
    """`config` for a reader of a trained model: where it runs and where its data is now."""
    if device is not None:
        config.train.device = device
    if data_dir is not None:
        config.train.data_dir = data_dir
    if threads is not None:
        config.train.threads = threads
        config.train.validate()
    return config


def open_run(run_dir: Path, *, device: str | None = None, data_dir: str | None = None,
             data: ImageData | None = None, threads: int | None = None) -> Trainer:
    """A trainer holding the run's newest checkpoint that writes nothing to the run."""
    config = reader_config(load_run_config(run_dir), device, data_dir, threads)
    trainer = Trainer(config, None, data=data)
    found = ckpt.newest_loadable(run_dir, trainer.device)
    if found is None:
        raise RunDirError(f"{run_dir}: the run has no checkpoint yet")
    path, state, trainer.skipped_checkpoints = found
    trainer.load_state(path, state)
    trainer.resumed_from = path
    return trainer
