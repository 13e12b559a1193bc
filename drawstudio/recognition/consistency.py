"""Class consistency of a conditional run: ask the model for each class, let the run's
classifier say what came out, and count how often it agrees."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from drawstudio.errors import ConfigError
from drawstudio.recognition.classifier import load_classifier, save_classifier, train_classifier


def ensure_classifier(trainer: Any, run_dir: Path, progress: Callable[[str], None] | None = None,
                      train_missing: bool = True) -> tuple[Any, float]:
    """The run's classifier, trained and saved first when the run has none (unless not
    `train_missing`: a shipped model's folder is never written)."""
    found = load_classifier(run_dir, trainer.device)
    if found is not None:
        return found
    if not train_missing:
        raise ConfigError(f"{run_dir}: no classifier to measure class consistency with")
    say = progress or (lambda message: print(message, file=sys.stderr))
    say(f"{run_dir}: no classifier yet; training one on {trainer.data.name} ...")
    model, accuracy = train_classifier(trainer, progress=say)
    save_classifier(run_dir, model, accuracy, trainer.data.num_classes, trainer.config.model.channels)
    say(f"classifier test accuracy {accuracy:.1%}")
    return model, accuracy


@torch.no_grad()
def class_consistency(trainer: Any, run_dir: Path, per_class: int = 100, seed: int = 0,
                      progress: Callable[[str], None] | None = None, train_missing: bool = True) -> dict[str, Any]:
    """Share of conditional samples the classifier assigns to the requested class."""
    config = trainer.config.model
    if not config.num_classes:
        raise ConfigError(f"{run_dir}: class consistency needs a conditional run (num_classes > 0)")
    classifier, accuracy = ensure_classifier(trainer, run_dir, progress, train_missing)
    classifier.eval()
    names = trainer.data.classes or [str(k) for k in range(config.num_classes)]
    generator = torch.Generator(trainer.device).manual_seed(seed)
    per_class_share = {}
    for k, name in enumerate(names):
        labels = torch.full((per_class,), k, device=trainer.device, dtype=torch.long)
        noise = torch.randn(config.T, per_class, config.z_size, device=trainer.device, generator=generator)
        canvases, _ = trainer.model.generate(per_class, labels, noise)
        predicted = classifier(canvases[-1].float()).argmax(1)
        per_class_share[name] = (predicted == k).float().mean().item()
    return {
        "overall": sum(per_class_share.values()) / len(per_class_share),
        "per_class": per_class_share,
        "samples_per_class": per_class,
        "chance": 1 / len(names),
        "classifier_accuracy": accuracy,
    }
