"""Which images make each batch, and how a uint8 batch becomes model input.

`EpochSampler` walks a fresh permutation each epoch. The permutation is a function of
(seed, epoch) alone, so the sampler's whole state is two ints and a resumed run draws
exactly the batches the interrupted one would have.

`to_model_input` turns uint8 0..255 into float32 in [0, 1]:
  "dynamic"   - a Bernoulli sample with probability pixel/255, fresh every batch;
  "threshold" - 1 where pixel > 125, else 0;
  "none"      - pixel/255.
An already-binary dataset must not be re-binarised: pass the mode through
`effective_binarize`, which turns it into "none" for such data.
"""

from __future__ import annotations

import torch
from torch import Tensor

from drawstudio.config import BINARIZE_MODES
from drawstudio.data.base import ImageData
from drawstudio.errors import DataError

THRESHOLD = 125
_SEED_STRIDE = 1_000_003  # a prime, so nearby seeds never share an epoch's permutation
_SEED_MASK = (1 << 63) - 1


class EpochSampler:
    """Batches of indices into a split of `n` images, epoch after epoch."""

    def __init__(self, n: int, batch_size: int, seed: int, drop_last: bool = True, *, name: str = "the dataset") -> None:
        if batch_size < 1:
            raise DataError(f"batch size {batch_size} must be at least 1")
        if batch_size > n:
            raise DataError(f"batch size {batch_size} is larger than the {n:,} training images of {name}")
        self.n, self.batch_size, self.seed, self.drop_last, self.name = n, batch_size, seed, drop_last, name
        self.epoch = 0
        self.position = 0  # where the next batch starts in this epoch's permutation
        self._order: Tensor | None = None

    def next_indices(self) -> Tensor:
        """int64 (batch_size,), or fewer for the last batch of an epoch when not drop_last."""
        remaining = self.n - self.position
        if remaining <= 0 or (self.drop_last and remaining < self.batch_size):
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        if self._order is None:
            self._order = self.permutation(self.epoch)
        batch = self._order[self.position:self.position + self.batch_size]
        self.position += len(batch)
        return batch

    def permutation(self, epoch: int) -> Tensor:
        generator = torch.Generator().manual_seed((self.seed * _SEED_STRIDE + epoch) & _SEED_MASK)
        return torch.randperm(self.n, generator=generator)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, position = state.get("epoch"), state.get("position")
        valid = all(type(v) is int for v in (epoch, position)) and epoch >= 0 and 0 <= position <= self.n
        if not valid:
            raise DataError(
                f"sampler state {state!r} does not fit the {self.n:,} images of {self.name} "
                "(expected ints epoch >= 0 and 0 <= position <= n)"
            )
        self.epoch, self.position, self._order = epoch, position, None


def effective_binarize(data: ImageData, mode: str) -> str:
    """The mode to use for `data`: "none" for an already-binary dataset, else `mode`."""
    _check_mode(mode)
    return "none" if data.binary else mode


def to_model_input(
    images: Tensor, mode: str, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> Tensor:
    """float32 (B, C, H, W) on `device`, in [0, 1], from uint8 `images`.

    "dynamic" samples where `generator` lives (the global RNG when None): a CPU
    generator samples on the CPU and the result is then moved, so the draw depends only
    on the generator's state, not on the device.
    """
    _check_mode(mode)
    if mode == "threshold":
        return (images > THRESHOLD).to(device=device, dtype=torch.float32)
    if mode == "none":
        return images.to(device=device, dtype=torch.float32) / 255.0
    where = generator.device if generator is not None else images.device
    probability = images.to(device=where, dtype=torch.float32) / 255.0
    return torch.bernoulli(probability, generator=generator).to(device)


def _check_mode(mode: str) -> None:
    if mode not in BINARIZE_MODES:
        raise ValueError(f"binarize mode {mode!r} is not one of {BINARIZE_MODES}")
