import numpy as np
import pytest
import torch
from PIL import Image

from drawstudio.data.folder import load_folder
from drawstudio.errors import DataError


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode).save(path)
    return path


def everything(split):
    return split.images(torch.arange(len(split)))


def test_grey_folder_unlabelled_with_held_out_tenth(tmp_path):
    for i in range(20):
        save(tmp_path / f"img{i:02d}.png", np.full((8, 6), i * 10))
    (tmp_path / "notes.txt").write_text("not an image")
    data = load_folder(tmp_path)
    assert (len(data.train), len(data.test)) == (18, 2)
    assert data.shape == (1, 8, 6) and data.classes is None and data.train.labels(torch.arange(2)) is None
    values = sorted(everything(data.train)[:, 0, 0, 0].tolist() + everything(data.test)[:, 0, 0, 0].tolist())
    assert values == [i * 10 for i in range(20)]
    assert data.name == str(tmp_path) and "test = 2 of 20 images" in data.notes[-1]


def test_held_out_slice_is_deterministic_and_independent_of_file_dates(tmp_path):
    for i in range(30):
        save(tmp_path / "a" / f"{i}.png", np.full((4, 4), i))
        save(tmp_path / "b" / f"{29 - i}.png", np.full((4, 4), 29 - i))  # written in the opposite order
    first, second = load_folder(tmp_path / "a"), load_folder(tmp_path / "b")
    assert torch.equal(everything(first.test), everything(second.test))
    assert torch.equal(everything(load_folder(tmp_path / "a").test), everything(first.test))
    assert everything(first.test)[:, 0, 0, 0].tolist() != [27, 28, 29]  # a shuffle, not the tail


def test_colour_images_converted_to_grey_or_kept(tmp_path):
    save(tmp_path / "red.png", np.tile([255, 0, 0], (4, 4, 1)))
    save(tmp_path / "blue.bmp", np.tile([0, 0, 255], (4, 4, 1)))
    colour = load_folder(tmp_path)
    assert colour.shape == (3, 4, 4)  # the first image is colour
    pixels = torch.cat([everything(colour.train), everything(colour.test)])[:, :, 0, 0]
    assert sorted(map(tuple, pixels.tolist())) == [(0, 0, 255), (255, 0, 0)]
    grey = load_folder(tmp_path, channels=1)
    assert grey.shape == (1, 4, 4)
    values = sorted(torch.cat([everything(grey.train), everything(grey.test)])[:, 0, 0, 0].tolist())
    assert values[0] < 40 and 70 < values[1] < 80  # ITU-R 601 luma: blue 0.114, red 0.299


def test_grey_images_expanded_to_rgb(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", np.full((5, 5), 100))
    data = load_folder(tmp_path, channels=3)
    assert data.shape == (3, 5, 5) and (everything(data.train) == 100).all()


def test_16_bit_grey_scaled_not_clipped(tmp_path):
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(tmp_path / name)
    assert (everything(load_folder(tmp_path).train) == 128).all()


def test_transparent_pixels_become_black(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:2, :, 3] = 255  # top half opaque white, bottom half transparent white
    save(tmp_path / "a.png", rgba, "RGBA")
    save(tmp_path / "b.png", rgba, "RGBA")
    image = everything(load_folder(tmp_path, channels=1).train)[0, 0]
    assert (image[:2] == 255).all() and (image[2:] == 0).all()


def test_resized_to_requested_size(tmp_path):
    save(tmp_path / "big.png", np.full((40, 30), 200))
    save(tmp_path / "small.bmp", np.full((7, 9), 50))
    data = load_folder(tmp_path, image_size=(16, 12))
    assert data.shape == (1, 16, 12)
    values = sorted(torch.cat([everything(data.train), everything(data.test)]).unique().tolist())
    assert values == [50, 200]  # flat images stay flat after resampling


def test_default_size_is_the_first_images(tmp_path):
    save(tmp_path / "a.png", np.zeros((10, 12)))
    save(tmp_path / "b.png", np.zeros((20, 20)))
    assert load_folder(tmp_path).shape == (1, 10, 12)


def test_class_subfolders_give_labels_and_sorted_class_names(tmp_path):
    for name, value in (("zebra", 30), ("apple", 10), ("mango", 20)):
        for i in range(4):
            save(tmp_path / name / f"{i}.png", np.full((4, 4), value))
    save(tmp_path / "apple" / "nested" / "deep.png", np.full((4, 4), 10))
    save(tmp_path / "stray.png", np.full((4, 4), 99))
    (tmp_path / "empty").mkdir()
    data = load_folder(tmp_path)
    assert data.classes == ["apple", "mango", "zebra"] and data.num_classes == 3
    for split in (data.train, data.test):
        images, labels = everything(split)[:, 0, 0, 0], split.labels(torch.arange(len(split)))
        assert torch.equal(images, (labels + 1) * 10)
    assert len(data.train) + len(data.test) == 13
    assert f"left out 1 image(s) lying directly in {tmp_path}" in data.notes[0]


def test_unreadable_image_named(tmp_path):
    save(tmp_path / "good.png", np.zeros((4, 4)))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(DataError, match=r"broken.png: cannot read image") as caught:
        load_folder(tmp_path)
    assert str(bad) in str(caught.value)


def test_truncated_image_named(tmp_path):
    save(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (64, 64)))
    save(tmp_path / "b.png", np.zeros((4, 4)))
    (tmp_path / "a.png").write_bytes((tmp_path / "a.png").read_bytes()[:200])
    with pytest.raises(DataError, match=r"a.png: cannot read image"):
        load_folder(tmp_path)


@pytest.mark.parametrize("setup, match", [
    (lambda d: None, "no images"),
    (lambda d: (d / "readme.txt").write_text("hi"), "no images"),
    (lambda d: save(d / "one.png", np.zeros((3, 3))), "only 1 image"),
])
def test_empty_or_tiny_folder_rejected(tmp_path, setup, match):
    setup(tmp_path)
    with pytest.raises(DataError, match=match):
        load_folder(tmp_path)


def test_missing_folder_rejected(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_folder(tmp_path / "nowhere")


def test_two_thousand_small_pngs_load_every_pixel(tmp_path):
    # the load's speed is measured by benchmarks/folder_load.py, not limited here
    rng = np.random.default_rng(0)
    written = rng.integers(0, 256, (2000, 16, 16))
    for i, pixels in enumerate(written):
        save(tmp_path / f"{i:04d}.png", pixels)
    data = load_folder(tmp_path, image_size=(16, 16), channels=1)
    assert (len(data.train), len(data.test)) == (1800, 200)
    loaded = torch.cat([everything(data.train), everything(data.test)])[:, 0].numpy()
    # the split shuffles; every written image is there exactly once
    assert sorted(map(bytes, loaded)) == sorted(map(bytes, written.astype(np.uint8)))
