"""A shipped model put to work: a read-only view of its weights on its test images (for eval,
samples and the studio), and a new run that starts from them (`train --from-pretrained`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from drawstudio.config import RunConfig, TrainConfig
from drawstudio.data import load_dataset
from drawstudio.data.base import ImageData
from drawstudio.data.batches import effective_binarize
from drawstudio.errors import DataError
from drawstudio.model.draw import Draw
from drawstudio.pretrained.catalog import Pretrained, find
from drawstudio.system.devices import prepare, resolve_device
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.evaluation import Evaluation
from drawstudio.train.objective import Objective
from drawstudio.train.runs import reader_config
from drawstudio.train.snapshot import Snapshot
from drawstudio.train.trainer import Trainer


@dataclass
class TrainedModel:
    """A shipped model on its test images, read-only: what `eval`, class consistency and the
    studio's view ask of a trainer, without an optimiser (building one imports torch's
    compiler, seconds that opening a model in a second cannot spend)."""

    config: RunConfig
    model: Draw
    data: ImageData
    device: torch.device
    step: int  # the step its training reached
    evaluation: Evaluation
    resumed_from: None = None  # no checkpoint file: the shipped weights

    def evaluate(self, split: str = "test", max_images: int | None = None, iw_samples: int = 1,
                 batch_size: int = 1000, log: bool = False) -> dict[str, Any]:
        return self.evaluation.evaluate(self.step, split, max_images, iw_samples, batch_size)

    def snapshot(self, n_recon: int = 16, n_samples: int = 16, sample_labels: list[int] | None = None) -> Snapshot:
        return self.evaluation.snapshot(self.step, n_recon, n_samples, sample_labels)


def pretrained_model(name: str, device: str | None = None, threads: int | None = None) -> tuple[Draw, int]:
    """The shipped model `name` alone, with no data (enough to sample), and the step its
    training reached."""
    pretrained = find(name)
    config = reader_config(pretrained.config, device, None, threads)
    return _built(pretrained, config), _trained_steps(pretrained)


def _built(pretrained: Pretrained, config: RunConfig) -> Draw:
    """The model with the shipped weights, on the config's device; a damaged file is refused
    before anything else is done."""
    where = resolve_device(config.train.device)
    weights = pretrained.load_weights(where)
    prepare(where, config.train.threads)
    model = Draw(config.model).to(where)
    ckpt.check_model_state(pretrained.weights_path, model, weights)
    model.load_state_dict(weights)
    return model.eval()


def _trained_steps(pretrained: Pretrained) -> int:
    return int(pretrained.card.get("training", {}).get("steps", 0))


def open_pretrained(name: str, *, device: str | None = None, data_dir: str | None = None,
                    threads: int | None = None, any_test_images: bool = False) -> TrainedModel:
    """The shipped model `name` on its test images, writing nothing anywhere. The images come
    from the model's own dataset; with `any_test_images`, when that is missing, from the first
    dataset of the same shape the card names under "also_shows" (for viewing only: a bound on
    other images is not the card's)."""
    pretrained = find(name)
    config = reader_config(pretrained.config, device, data_dir, threads)
    model = _built(pretrained, config)
    if any_test_images:
        data = _test_images(pretrained, config)
    else:
        data = load_dataset(config.train.dataset, config.train.data_dir,
                            image_size=(config.model.height, config.model.width), channels=config.model.channels)
    device = next(model.parameters()).device
    evaluation = Evaluation(Objective(model, config.train.fused), config, data,
                            effective_binarize(data, config.train.binarize), device)
    return TrainedModel(config, model, data, device, _trained_steps(pretrained), evaluation)


def _test_images(pretrained: Pretrained, config: RunConfig) -> ImageData:
    train = config.train
    shape = (config.model.height, config.model.width)
    tried = []
    for dataset in [train.dataset, *pretrained.card.get("also_shows", [])]:
        try:
            return load_dataset(dataset, train.data_dir, image_size=shape, channels=config.model.channels)
        except DataError as error:
            tried.append(str(error))
    raise DataError(f"pretrained model {pretrained.name!r} has no test images to draw: " + "; ".join(tried))


def pretrained_run_config(name: str) -> RunConfig:
    """A new run's config for training on from `name`: the model's own config, holding the
    rate its training ended at (a run that starts from trained weights at a high rate first
    undoes what they learned), for the default length of a new run."""
    pretrained = find(name)
    config = pretrained.config
    config.train.lr = float(pretrained.card.get("training", {}).get("final_lr", config.train.lr))
    config.train.lr_decay, config.train.decay_start = 1.0, 0
    config.train.steps = TrainConfig().steps
    return config


def start_from_pretrained(trainer: Trainer, name: str) -> None:
    """Put the weights of `name` into a new run's model and checkpoint them at once, so that a
    run stopped before its first autosave still resumes from them, not from noise. The shipped
    file is only read."""
    if trainer.step != 0 or trainer.resumed_from is not None:
        return  # an existing run resumes its own weights
    pretrained = find(name)
    weights = pretrained.load_weights(trainer.device)
    ckpt.check_model_state(pretrained.weights_path, trainer.model, weights)
    trainer.model.load_state_dict(weights)
    trainer.record({"kind": "pretrained", "step": 0, "name": name, "sha256": pretrained.card["weights"]["sha256"]})
    trainer.save_checkpoint()
