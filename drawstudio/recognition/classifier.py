"""A small convolutional classifier that recognises what a conditional DRAW model drew.

Trained on the run's own dataset (real images, prepared exactly as DRAW sees them) and
kept inside the run as `classifier.pt`, written atomically and loaded with
`weights_only=True` like every checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drawstudio.errors import CheckpointError
from drawstudio.settings_help import CLASSIFIER_STEPS
from drawstudio.system.atomic import atomic_write
from drawstudio.train.checkpoint import load_file

FILE_NAME = "classifier.pt"
FORMAT = "drawstudio-classifier"
DEFAULT_STEPS = CLASSIFIER_STEPS  # read at call time, so tests can shorten every path that trains one


class Classifier(nn.Module):
    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),  # any image size → (64, 4, 4)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) in [0, 1] → class logits (B, K)."""
        return self.head(self.features(x))


def train_classifier(
    trainer: Any, steps: int | None = None, batch_size: int = 128, progress: Callable[[str], None] | None = None
) -> tuple[Classifier, float]:
    """Fit a classifier to the run's training images (DEFAULT_STEPS steps unless told);
    returns it and its test accuracy."""
    # callers such as an evaluation may hold gradients off; training needs them whatever the caller does
    with torch.enable_grad():
        model = _fit(trainer, DEFAULT_STEPS if steps is None else steps, batch_size, progress)
    return model, accuracy(model, trainer)


def _fit(trainer: Any, steps: int, batch_size: int, progress: Callable[[str], None] | None) -> Classifier:
    from drawstudio.data.batches import EpochSampler, to_model_input

    data, device = trainer.data, trainer.device
    torch.manual_seed(trainer.config.train.seed)
    model = Classifier(trainer.config.model.channels, data.num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    sampler = EpochSampler(len(data.train), min(batch_size, len(data.train)), trainer.config.train.seed)
    generator = torch.Generator().manual_seed(trainer.config.train.seed)
    binarize = judged_as(trainer.binarize)
    start = time.monotonic()
    for step in range(steps):
        indices = sampler.next_indices()
        x = to_model_input(data.train.images(indices, generator), binarize, generator, device)
        loss = F.cross_entropy(model(x), data.train.labels(indices).to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress and (step + 1) % 250 == 0:
            progress(f"classifier step {step + 1}/{steps}, loss {loss.item():.3f}, {time.monotonic() - start:.0f} s")
    return model


def judged_as(binarize: str) -> str:
    """The images the classifier learns from and is tested on. A dynamically binarised model
    draws the Bernoulli means σ(c_T), i.e. grey intensities, so it is judged by a classifier of
    intensities (on Fashion-MNIST, one of binary samples read 82% of the test images and
    mistook the grey canvases of shirts and pullovers); a thresholded model draws thresholded
    images."""
    return "none" if binarize == "dynamic" else binarize


@torch.no_grad()
def accuracy(model: Classifier, trainer: Any) -> float:
    from drawstudio.data.batches import to_model_input

    indices = torch.arange(len(trainer.data.test))
    generator = torch.Generator().manual_seed(trainer.config.train.seed)
    images = to_model_input(trainer.data.test.images(indices, generator), judged_as(trainer.binarize), generator,
                            trainer.device)
    labels = trainer.data.test.labels(indices).to(trainer.device)
    predictions = torch.cat([model(batch).argmax(1) for batch in images.split(1000)])
    return (predictions == labels).float().mean().item()


def save_classifier(run_dir: Path, model: Classifier, test_accuracy: float, num_classes: int, channels: int) -> Path:
    path = Path(run_dir) / FILE_NAME
    payload = {"format": FORMAT, "state": model.state_dict(), "accuracy": test_accuracy,
               "num_classes": num_classes, "channels": channels}
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return path


def load_classifier(run_dir: Path, device: torch.device) -> tuple[Classifier, float] | None:
    """The run's classifier and its test accuracy, or None when it has none yet."""
    path = Path(run_dir) / FILE_NAME
    if not path.exists():
        return None
    state = load_file(path, device, FORMAT)
    try:
        model = Classifier(int(state["channels"]), int(state["num_classes"])).to(device)
        model.load_state_dict(state["state"])
        return model, float(state["accuracy"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: damaged classifier ({str(error).splitlines()[0][:200]})") from None
