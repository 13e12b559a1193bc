"""Two-digit canvases as values: every placement the rule allows is drawn, evenly, from the
generator (or the set's own seeded one), and the dataset keeps what MNIST said of itself."""

import pytest
import torch

from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.data.two_digit import TwoDigitSet, two_digit_mnist


def digits(n: int, size: int) -> torch.Tensor:
    return torch.full((n, 1, size, size), 255, dtype=torch.uint8)


def test_every_allowed_placement_is_drawn_and_no_other():
    layout = TwoDigitSet(digits(3, 2), canvas=5)._draw_layout(20_000, torch.Generator().manual_seed(0))
    partner, y1, x1, y2, x2 = (part.tolist() for part in layout)
    assert set(partner) == {0, 1, 2}
    placements = set(zip(y1, x1, y2, x2))
    span, size = 3, 2
    allowed = {(a, b, c, d) for a in range(span + 1) for b in range(span + 1) for c in range(span + 1)
               for d in range(span + 1)
               if abs(b - d) >= size or abs(a - c) >= size}  # the two boxes do not overlap
    assert placements == allowed


def test_the_order_and_the_direction_of_the_two_digits_are_even_coin_flips():
    layout = TwoDigitSet(digits(3, 2), canvas=5)._draw_layout(40_000, torch.Generator().manual_seed(1))
    _, y1, x1, y2, x2 = layout
    side_by_side = ((x1 - x2).abs() >= 2) & ((y1 - y2).abs() < 2)  # only a horizontal draw gives these
    stacked = ((y1 - y2).abs() >= 2) & ((x1 - x2).abs() < 2)  # only a vertical one gives these
    assert side_by_side.sum().item() / stacked.sum().item() == pytest.approx(1, abs=0.1)
    assert (x1 > x2)[side_by_side].float().mean().item() == pytest.approx(0.5, abs=0.03)
    assert (y1 > y2)[stacked].float().mean().item() == pytest.approx(0.5, abs=0.03)


def test_without_a_generator_the_set_draws_from_its_own_seeded_one():
    images = digits(4, 2) * torch.arange(1, 5, dtype=torch.uint8).view(4, 1, 1, 1)
    indices = torch.arange(4)
    torch.manual_seed(7)  # the global RNG must not matter
    own = TwoDigitSet(images, canvas=6).images(indices)
    assert torch.equal(own, TwoDigitSet(images, canvas=6).images(indices, torch.Generator().manual_seed(0)))


def test_a_canvas_exactly_two_digits_wide_and_a_single_digit_are_enough():
    assert TwoDigitSet(digits(1, 3), canvas=6).images(torch.tensor([0])).shape == (1, 1, 6, 6)


def test_many_small_digits_fit_a_canvas_twice_their_size():
    assert TwoDigitSet(digits(40, 10), canvas=20).images(torch.arange(3)).shape == (3, 1, 20, 20)


def test_no_digits_is_refused():
    with pytest.raises(ValueError, match="^no digits to compose from$"):
        TwoDigitSet(digits(0, 2), canvas=6)


def test_the_two_digit_dataset_keeps_mnist_s_source_binary_flag_and_notes_and_uses_the_canvas_asked_for():
    split = TensorImageSet(digits(5, 4))
    mnist = ImageData("mnist", split, split, binary=True, source="/data/mnist", notes=["held out 1"])
    data = two_digit_mnist(mnist, canvas=9, test_seed=3)
    assert (data.binary, data.source) == (True, "/data/mnist")
    assert data.notes == ["held out 1", "two MNIST digits per 9x9 canvas; test layout from seed 3"]
    assert data.train.canvas == 9 and data.test.canvas == 9 and data.shape == (1, 9, 9)
