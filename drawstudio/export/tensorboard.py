"""TensorBoard logging of a run, for users who keep their runs there.

`TensorBoardLog` listens to a trainer's records (`Trainer.events`, the same records as
metrics.jsonl) and writes, through `torch.utils.tensorboard`:

* every logged training step: `train/loss`, `train/reconstruction`, `train/kl`,
  `train/learning_rate`, `train/grad_norm`, and `train/kl_per_step`, a histogram whose
  buckets are the drawing steps t = 1..T and whose heights are the KL of each step (nats);
* every evaluation: `<split>/nll_bound`, `<split>/reconstruction`, `<split>/kl` (and
  `<split>/iw_nll_bound` when importance-weighted);
* at each test evaluation: image grids `images/originals`, `images/reconstructions` (the final
  canvas σ(c_T) of the fixed test batch) and `images/samples` (from fixed prior noise), the
  same images the studio shows.

The `tensorboard` package is an optional extra (`pip install 'drawstudio[tensorboard]'`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from drawstudio.errors import ConfigError
from drawstudio.export.images import grid

INSTALL_HINT = "pip install 'drawstudio[tensorboard]' (or pip install tensorboard)"
IMAGES_PER_GRID = 16


def log_dir(run_dir: Path, setting: str) -> Path:
    """Where the `tensorboard` setting of a run's config points: a relative folder is inside the run."""
    return Path(run_dir) / Path(setting).expanduser()


def available() -> bool:
    """Whether the tensorboard package is installed (without importing it)."""
    return importlib.util.find_spec("tensorboard") is not None


def require(how_to_stop: str = "") -> None:
    """Raise a ConfigError saying how to install tensorboard when it is missing."""
    if not available():
        raise ConfigError(f"TensorBoard logs need the tensorboard package: {INSTALL_HINT}{how_to_stop}")


class TensorBoardLog:
    def __init__(self, trainer: Any, directory: Path):
        require()
        from torch.utils.tensorboard import SummaryWriter

        try:
            self.writer = SummaryWriter(str(directory))
        except OSError as error:
            raise ConfigError(f"{directory}: cannot write TensorBoard logs ({error.strerror or error})") from None
        self.trainer = trainer
        self.directory = Path(directory)
        trainer.events.connect(self.write)

    def write(self, record: dict[str, Any]) -> None:
        if record["kind"] == "train":
            self._train(record)
        elif record["kind"] == "eval":
            self._eval(record)

    def _train(self, record: dict[str, Any]) -> None:
        step = record["step"]
        for tag, key in (("loss", "loss"), ("reconstruction", "recon"), ("kl", "kl"), ("learning_rate", "lr"),
                         ("grad_norm", "grad_norm")):
            self.writer.add_scalar(f"train/{tag}", record[key], step)
        kl_t = np.asarray(record["kl_t"], dtype=np.float64)
        drawing_steps = np.arange(1, len(kl_t) + 1, dtype=np.float64)
        self.writer.add_histogram_raw(
            "train/kl_per_step", min=1.0, max=float(len(kl_t)), num=float(kl_t.sum()),
            sum=float((drawing_steps * kl_t).sum()), sum_squares=float((drawing_steps ** 2 * kl_t).sum()),
            bucket_limits=drawing_steps.tolist(), bucket_counts=kl_t.tolist(), global_step=step)

    def _eval(self, record: dict[str, Any]) -> None:
        step, split = record["step"], record["split"]
        self.writer.add_scalar(f"{split}/nll_bound", record["nll"], step)
        self.writer.add_scalar(f"{split}/reconstruction", record["recon"], step)
        self.writer.add_scalar(f"{split}/kl", record["kl"], step)
        if "iw_nll" in record:
            self.writer.add_scalar(f"{split}/iw_nll_bound", record["iw_nll"], step)
        if split == "test":
            snapshot = self.trainer.snapshot(IMAGES_PER_GRID, IMAGES_PER_GRID)
            for tag, images in (("originals", snapshot.originals), ("reconstructions", snapshot.reconstructions[-1]),
                                ("samples", snapshot.samples[-1])):
                self.writer.add_image(f"images/{tag}", grid(images), step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.trainer.events.disconnect(self.write)
        self.writer.close()


def attach(trainer: Any) -> TensorBoardLog | None:
    """A TensorBoard log for the trainer's run when its config asks for one (and this process
    writes the run), else None."""
    setting = trainer.config.train.tensorboard
    if setting is None or trainer.run_dir is None or not trainer.dist.is_writer:
        return None
    return TensorBoardLog(trainer, log_dir(trainer.run_dir, setting))
