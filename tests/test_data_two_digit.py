import pytest
import torch

from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.data.two_digit import TwoDigitSet, two_digit_mnist


def white_squares(n=50):
    return torch.full((n, 1, 28, 28), 255, dtype=torch.uint8)


def blocks(canvas: torch.Tensor) -> list[tuple[int, int]]:
    """Top-left corners of the 28x28 all-255 blocks that make up the lit pixels, or fail."""
    lit = canvas[0] == 255
    assert ((canvas[0] == 0) | lit).all()
    found = []
    remaining = lit.clone()
    while remaining.any():
        y, x = (int(v) for v in remaining.nonzero()[0])  # row-major: the top-left corner of some block
        assert y + 28 <= 60 and x + 28 <= 60, "digit box leaves the canvas"
        assert remaining[y:y + 28, x:x + 28].all(), "lit region is not a 28x28 block"
        remaining[y:y + 28, x:x + 28] = False
        found.append((y, x))
    return found


def test_two_non_overlapping_28x28_boxes_inside_the_canvas():
    squares = TwoDigitSet(white_squares())
    canvases = squares.images(torch.arange(50).repeat(4), torch.Generator().manual_seed(1))
    assert canvases.shape == (200, 1, 60, 60) and canvases.dtype == torch.uint8
    corners = set()
    for canvas in canvases:
        assert int((canvas == 255).sum()) == 2 * 28 * 28  # two disjoint boxes, fully inside
        found = blocks(canvas)
        assert len(found) == 2
        corners.update(found)
    assert len(corners) > 50  # positions vary


def test_pixelwise_max_keeps_both_digits():
    digits = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    digits[0, 0, 5, 7], digits[1, 0, 20, 3] = 200, 90
    canvas = TwoDigitSet(digits).images(torch.tensor([0]), torch.Generator().manual_seed(0))
    values = sorted(canvas.flatten().unique().tolist())
    assert values[0] == 0 and 200 in values and set(values) <= {0, 90, 200}


def test_first_digit_is_the_index_partner_and_positions_from_generator():
    digits = torch.arange(1, 11, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 28, 28).contiguous()
    composer = TwoDigitSet(digits)
    indices = torch.tensor([3, 7, 7])
    first = composer.images(indices, torch.Generator().manual_seed(5))
    again = composer.images(indices, torch.Generator().manual_seed(5))
    other = composer.images(indices, torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)
    for image, index in zip(first, indices, strict=True):
        assert int(index) + 1 in image.unique().tolist()


def test_test_split_is_deterministic_and_indexable_in_any_order():
    mnist = ImageData("mnist", TensorImageSet(white_squares(20)), TensorImageSet(white_squares(30)))
    data = two_digit_mnist(mnist)
    assert data.name == "two-digit-mnist" and data.shape == (1, 60, 60) and data.classes is None
    everything = data.test.images(torch.arange(30), torch.Generator().manual_seed(1))
    assert torch.equal(everything, data.test.images(torch.arange(30), torch.Generator().manual_seed(2)))
    assert torch.equal(everything[[9, 2]], data.test.images(torch.tensor([9, 2])))
    rebuilt = two_digit_mnist(mnist).test.images(torch.arange(30))
    assert torch.equal(everything, rebuilt)
    assert data.test.labels(torch.arange(3)) is None


def test_train_split_differs_between_draws():
    data = two_digit_mnist(ImageData("mnist", TensorImageSet(white_squares(20)), TensorImageSet(white_squares(5))))
    generator = torch.Generator().manual_seed(0)
    first, second = (data.train.images(torch.arange(20), generator) for _ in range(2))
    assert not torch.equal(first, second)


def test_real_mnist_two_digit_images(shared_data):
    from drawstudio.data import load_dataset

    data = load_dataset("two-digit-mnist", str(shared_data), image_size=(60, 60), channels=1)
    assert (len(data.train), len(data.test)) == (9000, 1000)
    batch = data.train.images(torch.arange(8), torch.Generator().manual_seed(0))
    assert batch.shape == (8, 1, 60, 60) and batch.max() == 255


def test_canvas_too_small_for_two_digits():
    with pytest.raises(ValueError, match="cannot hold two"):
        TwoDigitSet(white_squares(2), canvas=50)
