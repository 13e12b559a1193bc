"""A folder of images as values: how each kind of pixel becomes uint8, which files are held
out, and the exact one-line refusals."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from drawstudio.data.folder import IMAGE_SUFFIXES, load_folder
from drawstudio.errors import DataError


def pixels(folder, **kwargs) -> np.ndarray:
    """Every image of the folder (train then test) as (N, C, H, W) uint8, in file-name order."""
    data = load_folder(folder, **kwargs)
    return np.concatenate([data.train.data.numpy(), data.test.data.numpy()])


def save_with_a_plain_partner(folder, image: Image.Image) -> None:
    """The image as a.png and a black one as b.png (a folder needs two images)."""
    folder.mkdir(exist_ok=True)
    image.save(folder / "a.png")
    Image.new(image.mode if image.mode != "P" else "L", image.size).save(folder / "b.png")


def the_a_image(folder, **kwargs) -> np.ndarray:
    data = load_folder(folder, **kwargs)
    everything = np.concatenate([data.train.data.numpy(), data.test.data.numpy()])
    return next(image for image in everything if image.any()) if everything.any() else everything[0]


def test_wide_grey_values_are_scaled_to_8_bits_and_clipped_to_the_16_bit_range(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    Image.fromarray(np.array([[-5, 70000, 7 * 256 + 3]], dtype=np.int32), "I").save(folder / "a.tif")
    Image.fromarray(np.zeros((1, 3), dtype=np.int32), "I").save(folder / "b.tif")
    assert the_a_image(folder).tolist() == [[[0, 255, 7]]]


def test_transparent_palette_pixels_are_drawn_on_black(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    for name, transparency in (("a.png", 0), ("b.png", None)):
        white = Image.new("P", (2, 1))
        white.putpalette([255, 255, 255] + [0] * 765)
        white.save(folder / name, **({} if transparency is None else {"transparency": transparency}))
    assert sorted(pixels(folder, channels=1).reshape(2, -1).tolist()) == [[0, 0], [255, 255]]


def test_half_transparent_grey_is_blended_on_black(tmp_path):
    save_with_a_plain_partner(tmp_path / "f", Image.new("LA", (2, 1), (255, 128)))
    assert np.abs(the_a_image(tmp_path / "f").astype(int) - 128).max() <= 1


def test_a_transparent_colour_pixel_is_black_in_every_channel(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    Image.new("RGBA", (1, 1), (200, 100, 50, 0)).save(folder / "a.png")
    Image.new("RGBA", (1, 1), (200, 100, 50, 255)).save(folder / "b.png")
    assert sorted(pixels(folder, channels=3).reshape(2, 3).tolist()) == [[0, 0, 0], [200, 100, 50]]


def test_images_of_another_size_are_resized_bilinearly(tmp_path):
    ramp = Image.fromarray((np.arange(16, dtype=np.uint8) * 16).reshape(4, 4), "L")
    save_with_a_plain_partner(tmp_path / "f", ramp)
    want = np.asarray(ramp.resize((2, 2), Image.Resampling.BILINEAR))
    assert the_a_image(tmp_path / "f", image_size=(2, 2), channels=1)[0].tolist() == want.tolist()


def test_one_pixel_high_or_wide_sizes_are_allowed_and_zero_is_refused(tmp_path):
    save_with_a_plain_partner(tmp_path / "f", Image.new("L", (3, 3), 9))
    assert pixels(tmp_path / "f", image_size=(1, 3)).shape == (2, 1, 1, 3)
    assert pixels(tmp_path / "f", image_size=(3, 1)).shape == (2, 1, 3, 1)
    for size in ((0, 3), (3, 0)):
        with pytest.raises(DataError, match=rf"^{tmp_path / 'f'}: image size {size[0]}x{size[1]} is impossible$"):
            load_folder(tmp_path / "f", image_size=size)


def test_the_test_images_are_the_ones_whose_names_hash_lowest(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    names = [f"{i:02d}.png" for i in range(20)]
    for i, name in enumerate(names):
        Image.new("L", (1, 1), i).save(folder / name)
    held = sorted(names, key=lambda name: hashlib.sha1(name.encode()).digest())[:2]
    data = load_folder(folder)
    assert sorted(data.test.data.flatten().tolist()) == sorted(names.index(name) for name in held)
    assert data.notes[-1] == "test = 2 of 20 images, chosen by the hash of their file names"


def test_what_is_not_a_usable_folder_is_refused_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=rf"^{tmp_path / 'gone'}: not a folder of images \(does not exist\)$"):
        load_folder(tmp_path / "gone")
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match=rf"^{tmp_path / 'file'}: not a folder of images \(not a folder\)$"):
        load_folder(tmp_path / "file")
    with pytest.raises(DataError, match=rf"^{tmp_path}: channels must be 1 \(grey\) or 3 \(colour\), not 2$"):
        load_folder(tmp_path, channels=2)
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    with pytest.raises(DataError) as raised:
        load_folder(tmp_path)
    assert str(raised.value) == f"{tmp_path}: no images (looked for {suffixes}); need at least 2"
    Image.new("L", (1, 1)).save(tmp_path / "one.png")
    with pytest.raises(DataError) as raised:
        load_folder(tmp_path)
    assert str(raised.value) == f"{tmp_path}: only 1 image (looked for {suffixes}); need at least 2"


def test_a_folder_that_cannot_be_listed_says_why(tmp_path, monkeypatch):
    from drawstudio.data import folder as folder_module

    def refuse(_root):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(folder_module, "_scan", refuse)
    with pytest.raises(DataError, match=rf"^{tmp_path}: cannot list the folder \(Permission denied\)$"):
        load_folder(tmp_path)
