"""A shipped model put to work: a read-only view of its weights on its test images (for eval,
samples and the studio), and a new run that starts from them (`train --from-pretrained`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from drawstudio.config import RunConfig, TrainConfig
from drawstudio.data import available_datasets, load_dataset
from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.data.binarized import NAME as BINARIZED_NAME
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
    from the model's own dataset; with `any_test_images` (for viewing only: a bound on other
    images is not the card's), when that is missing, from the first dataset the card names under
    "also_shows", and when none is on this machine, from the model's own samples."""
    pretrained = find(name)
    config = reader_config(pretrained.config, device, data_dir, threads)
    model = _built(pretrained, config)
    if any_test_images:
        data = _test_images(pretrained, config, model)
    else:
        data = load_dataset(config.train.dataset, config.train.data_dir,
                            image_size=(config.model.height, config.model.width), channels=config.model.channels)
    device = next(model.parameters()).device
    evaluation = Evaluation(Objective(model, config.train.fused), config, data,
                            effective_binarize(data, config.train.binarize), device)
    return TrainedModel(config, model, data, device, _trained_steps(pretrained), evaluation)


def _test_images(pretrained: Pretrained, config: RunConfig, model: Draw) -> ImageData:
    train = config.train
    shape = (config.model.height, config.model.width)
    for dataset in shown_datasets(pretrained):
        try:
            return load_dataset(dataset, train.data_dir, image_size=shape, channels=config.model.channels)
        except DataError:
            continue
    return own_samples(model, config, pretrained.card.get("classes"))


def shown_datasets(pretrained: Pretrained) -> list[str]:
    """The datasets whose test images a view of the model draws, in the order they are tried."""
    return [pretrained.config.train.dataset, *pretrained.card.get("also_shows", [])]


def images_note(pretrained: Pretrained, data_dir: str | None) -> str:
    """What a view of the model draws when its own test images are not on this machine ("" when
    they are), judged by which files exist, as the view will find them."""
    present = {info.name for info in available_datasets(data_dir) if info.present}
    wanted = shown_datasets(pretrained)
    if wanted[0] in present:
        return ""
    found = next((name for name in wanted[1:] if name in present), None)
    if found is not None:
        return f"{wanted[0]} is not on this machine: it draws {found} test images"
    return (f"no test images of {', '.join(wanted)} on this machine: it reconstructs its own samples "
            "(get a dataset from Training ▸ New run…'s data group)")


def own_samples(model: Draw, config: RunConfig, classes: list[str] | None, n: int = 64) -> ImageData:
    """`n` of the model's samples, as a split of images for it to reconstruct: the panes then show
    it drawing (canvas, glimpses, attention) on a machine without its dataset. Fixed latents, so
    every opening shows the same images; thresholded when it learnt from binary images."""
    c = config.model
    generator = torch.Generator().manual_seed(config.train.seed)
    labels = torch.arange(n) % c.num_classes if c.num_classes else None
    noise = torch.randn(c.T, n, c.z_size, generator=generator)  # (T, n, Z)
    device = next(model.parameters()).device
    with torch.no_grad():
        canvases, _ = model.generate(n, None if labels is None else labels.to(device), noise.to(device))
    final = canvases[-1].cpu()  # (n, C, H, W) probabilities
    binary = config.train.dataset == BINARIZED_NAME or config.train.binarize != "none"
    images = ((final > 0.5).float() if binary else final).mul(255).round().to(torch.uint8)
    split = TensorImageSet(images, labels)
    return ImageData("its own samples", split, split, classes=classes, binary=binary,
                     source="drawn by the model (no test images on this machine)")


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
