"""Two-digit MNIST ("two-digit-mnist"; the DRAW paper's "MNIST Generation with Two Digits").

Each image is two MNIST digits on a 60×60 canvas, placed at random where their 28×28
boxes lie fully inside the canvas and do not overlap, combined by pixel-wise max.
Images are composed on demand: image i of a split starts from digit i of the matching
MNIST split, and the partner digit (from the same split) and both positions are drawn

* for the training set, from the `generator` passed to `images()` (without one, from
  the set's own generator, so a stray call such as `ImageData.shape` leaves torch's
  global RNG alone);
* for the test set, once for the whole split from a fixed seed, so evaluating it twice
  gives identical images.

Unlabelled: two digits have no single class.

Placement: pick the axis (x or y) along which the boxes are apart, an ordered pair of
offsets along it that are at least 28 apart, which digit takes the lower one, and
free offsets along the other axis, all uniformly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from drawstudio.data.base import ImageData, ImageSet

NAME = "two-digit-mnist"
CANVAS = 60
TEST_SEED = 2015


class TwoDigitSet:
    """An ImageSet composing two-digit canvases from `digits` (N, C, h, w) uint8."""

    def __init__(self, digits: Tensor, canvas: int = CANVAS, fixed_seed: int | None = None) -> None:
        size = max(digits.shape[-2:])
        if canvas < 2 * size:
            raise ValueError(f"a {canvas}x{canvas} canvas cannot hold two {size}x{size} digits side by side")
        if len(digits) < 1:
            raise ValueError("no digits to compose from")
        self.digits = digits
        self.canvas = canvas
        span = canvas - size  # largest offset that keeps a box inside
        self._apart = torch.tensor(
            [(low, high) for low in range(span + 1) for high in range(low + size, span + 1)], dtype=torch.long
        )
        self._own_generator = torch.Generator().manual_seed(0)
        self._layout = None
        if fixed_seed is not None:
            generator = torch.Generator().manual_seed(fixed_seed)
            self._layout = self._draw_layout(len(digits), generator)

    def __len__(self) -> int:
        return len(self.digits)

    def images(self, indices: Tensor, generator: torch.Generator | None = None) -> Tensor:
        indices = indices.long().cpu()
        if self._layout is not None:
            partner, y1, x1, y2, x2 = (part[indices] for part in self._layout)
        else:
            partner, y1, x1, y2, x2 = self._draw_layout(len(indices), generator or self._own_generator)
        count, channels, height, width = len(indices), *self.digits.shape[1:]
        canvas = torch.zeros(count, self.canvas, self.canvas, channels, dtype=torch.uint8)
        batch = torch.arange(count)[:, None, None]
        rows, cols = torch.arange(height)[None, :, None], torch.arange(width)[None, None, :]
        # Channels last, so each placement is one advanced-indexing assignment for the whole batch.
        for digits, y, x in ((self.digits[indices], y1, x1), (self.digits[partner], y2, x2)):
            where = (batch, y[:, None, None] + rows, x[:, None, None] + cols)
            canvas[where] = torch.maximum(canvas[where], digits.permute(0, 2, 3, 1))
        return canvas.permute(0, 3, 1, 2).contiguous()

    def labels(self, indices: Tensor) -> Tensor | None:
        return None

    def _draw_layout(self, count: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        """(partner, y1, x1, y2, x2), each (count,)."""
        span = self.canvas - max(self.digits.shape[-2:])

        def draw(high: int) -> Tensor:
            return torch.randint(0, high, (count,), generator=generator)

        partner = draw(len(self.digits))
        low, high = self._apart[draw(len(self._apart))].unbind(1)
        swap, horizontal = draw(2).bool(), draw(2).bool()
        first, second = torch.where(swap, high, low), torch.where(swap, low, high)
        free1, free2 = draw(span + 1), draw(span + 1)
        x1, y1 = torch.where(horizontal, first, free1), torch.where(horizontal, free1, first)
        x2, y2 = torch.where(horizontal, second, free2), torch.where(horizontal, free2, second)
        return partner, y1, x1, y2, x2


def two_digit_mnist(mnist: ImageData, canvas: int = CANVAS, test_seed: int = TEST_SEED) -> ImageData:
    """Two-digit sets over MNIST's train and test splits (partners come from the same split)."""

    def every_digit(split: ImageSet) -> Tensor:
        return split.images(torch.arange(len(split)))

    return ImageData(
        name=NAME,
        train=TwoDigitSet(every_digit(mnist.train), canvas),
        test=TwoDigitSet(every_digit(mnist.test), canvas, fixed_seed=test_seed),
        binary=mnist.binary,
        source=mnist.source,
        notes=[*mnist.notes, f"two MNIST digits per {canvas}x{canvas} canvas; test layout from seed {test_seed}"],
    )
