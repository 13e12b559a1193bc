"""What every dataset hands the trainer: uint8 images in memory, split into train and test.

Images are kept as uint8 intensities 0..255 with shape (N, C, H, W); a batch becomes
float in [0, 1] only on its way to the model (see `drawstudio.data.batches`). An
already-binary dataset (binarized MNIST) stores 0/255 and sets `binary`, so it is used
as is and never re-binarised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from drawstudio.errors import ConfigError


class ImageSet(Protocol):
    """A split: indexable by a batch of indices (composed sets may build images on demand)."""

    def __len__(self) -> int: ...

    def images(self, indices: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """uint8 (len(indices), C, H, W). `generator` drives on-the-fly composition, if any."""
        ...

    def labels(self, indices: Tensor) -> Tensor | None:
        """int64 (len(indices),) class ids, or None for an unlabelled set."""
        ...


@dataclass
class TensorImageSet:
    """A split held as tensors."""

    data: Tensor  # (N, C, H, W) uint8
    targets: Tensor | None = None  # (N,) int64

    def __len__(self) -> int:
        return self.data.shape[0]

    def images(self, indices: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.data[indices]

    def labels(self, indices: Tensor) -> Tensor | None:
        return None if self.targets is None else self.targets[indices]


@dataclass
class ImageData:
    name: str  # "mnist", "fashion-mnist", "binarized-mnist", "two-digit-mnist" or the folder path
    train: ImageSet
    test: ImageSet  # the split NLL is reported on
    valid: ImageSet | None = None  # for model selection, when the dataset has one
    classes: list[str] | None = None  # class names; None when unlabelled
    binary: bool = False  # already {0, 255}: never re-binarised
    source: str = ""  # where it was read from, for messages and the studio
    notes: list[str] = field(default_factory=list)  # e.g. "test = last 1,000 of t10k (no train files found)"

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        first = self.train.images(torch.zeros(1, dtype=torch.long))
        return tuple(first.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def check_trainable(self, shape: tuple[int, int, int], num_classes: int, batch_size: int) -> None:
        """Raise ConfigError unless a model for (C, H, W) `shape` images and `num_classes` labels
        (0: unconditional) can train on this data at `batch_size`."""
        if tuple(self.shape) != shape:
            raise ConfigError(
                f"dataset {self.name!r} has {'x'.join(map(str, self.shape))} images "
                f"(channels x height x width); the model is set up for {'x'.join(map(str, shape))}"
            )
        if num_classes and self.num_classes != num_classes:
            have = self.num_classes or "no"
            raise ConfigError(f"num_classes={num_classes}: dataset {self.name!r} has {have} class labels")
        if batch_size > len(self.train):
            raise ConfigError(f"batch_size={batch_size} is larger than the {len(self.train)} training images "
                              f"of {self.name!r}")
