"""A new run's defaults, before the dialog shows them (no Qt): which dataset, where the run
goes, what shape and classes the dataset gives the model, and a preset's settings."""

from __future__ import annotations

import time
from pathlib import Path

from drawstudio.config import ModelConfig, RunConfig, TrainConfig, start_lr
from drawstudio.data import DatasetInfo, available_datasets, dataset_facts
from drawstudio.train.presets import PRESETS, SCHEDULE, apply_preset

PREFERRED_DATASETS = ("fashion-mnist", "mnist", "binarized-mnist")
RUNS_ROOT = Path.home() / "drawstudio-runs"


def default_dataset(infos: list[DatasetInfo]) -> str:
    present = {info.name for info in infos if info.present}
    return next((name for name in PREFERRED_DATASETS if name in present), PREFERRED_DATASETS[0])


def default_run_dir(dataset: str) -> Path:
    return RUNS_ROOT / f"{Path(dataset).name}-{time.strftime('%Y%m%d-%H%M%S')}"


def dataset_shape(name: str) -> tuple[int, int, int] | None:
    """(C, H, W) of a named dataset; None for a folder (its images are resized to the model's)."""
    facts = dataset_facts(name)
    return None if facts is None else facts.shape


def dataset_classes(name: str) -> int:
    """Labelled classes of a named dataset (0: none), or of a folder with one subfolder per class."""
    facts = dataset_facts(name)
    return _subfolders(name) if facts is None else facts.num_classes


def config_for_dataset(dataset: str | None, data_dir: str | None, preset: str | None = None) -> RunConfig:
    """Default settings, or `preset`'s, for a new run on `dataset` (when None: the preset's,
    else the preferred one found), with the image shape the dataset needs."""
    config = RunConfig(train=TrainConfig(**SCHEDULE, lr=start_lr(ModelConfig.T), data_dir=data_dir))
    if preset:
        config = unchecked_config(apply_preset(config.to_dict(), preset))
    config.train.dataset = dataset or preset_dataset(preset) or default_dataset(available_datasets(data_dir))
    shape = dataset_shape(config.train.dataset)
    if shape is not None:
        config.model.channels, config.model.height, config.model.width = shape
    return config


def preset_dataset(preset: str | None) -> str | None:
    """The named dataset a preset trains on; None when it needs a folder of images (svhn,
    cifar10: the paper's colour datasets have no loader of their own) or for no preset."""
    return PRESETS[preset]["train"].get("dataset") if preset else None


def unchecked_config(values: dict) -> RunConfig:
    """A RunConfig from a `to_dict()`-shaped dict, not validated (the dialog explains problems itself)."""
    return RunConfig(ModelConfig(**values["model"]), TrainConfig(**values["train"]))


def _subfolders(folder: str) -> int:
    path = Path(folder).expanduser()
    return sum(1 for p in path.iterdir() if p.is_dir()) if path.is_dir() else 0
