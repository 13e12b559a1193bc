import dataclasses
from pathlib import Path

import pytest
import torch

from drawstudio.data.mnist import FASHION_MNIST, MNIST, find_idx_files, load_idx_dataset
from drawstudio.errors import DataError
from required_files import require_files

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_real_shared_t10k_only_split_is_held_out_9000_1000(shared_data, no_default_data):
    data = load_idx_dataset(MNIST, shared_data / "mnist")
    assert (len(data.train), len(data.test)) == (9000, 1000)
    train = data.train.images(torch.arange(9000))
    test = data.test.images(torch.arange(1000))
    assert train.dtype == torch.uint8 and train.shape == (9000, 1, 28, 28) and test.shape == (1000, 1, 28, 28)
    assert train.min() == 0 and train.max() == 255
    labels = torch.cat([data.train.labels(torch.arange(9000)), data.test.labels(torch.arange(1000))])
    assert labels.dtype == torch.int64 and set(labels.tolist()) == set(range(10))
    assert data.classes == [str(d) for d in range(10)] and data.num_classes == 10
    assert data.notes == ["only the t10k files were found: train = first 9,000, test = last 1,000 of t10k"]
    assert data.source == str(shared_data / "mnist")


def test_shared_root_as_data_dir_finds_mnist_subfolder(shared_data):
    files = find_idx_files(MNIST, shared_data)
    assert files is not None and files.directory == shared_data / "mnist" and not files.complete


def test_both_splits_used_as_they_are(tmp_path, write_mnist_split):
    train_images, _ = write_mnist_split(tmp_path, "train", 30)
    write_mnist_split(tmp_path, "t10k", 12, gz=False)
    data = load_idx_dataset(MNIST, tmp_path)
    assert (len(data.train), len(data.test), data.notes) == (30, 12, [])
    assert torch.equal(data.train.images(torch.arange(30))[:, 0], torch.from_numpy(train_images.copy()))


def test_only_train_files_hold_out_the_last_sixth_capped_at_10000(tmp_path, write_mnist_split):
    write_mnist_split(tmp_path, "train", 60)
    data = load_idx_dataset(MNIST, tmp_path)
    assert (len(data.train), len(data.test)) == (50, 10)
    assert data.test.images(torch.tensor([0]))[0, 0, 0, 0] == 50  # image i has value i
    assert "test = last 10 of train" in data.notes[0]


def test_torchvision_layout_with_both_splits_beats_a_partial_folder(tmp_path, write_mnist_split):
    write_mnist_split(tmp_path, "t10k", 12)
    write_mnist_split(tmp_path / "MNIST" / "raw", "train", 18)
    write_mnist_split(tmp_path / "MNIST" / "raw", "t10k", 6)
    data = load_idx_dataset(MNIST, tmp_path)
    assert data.source == str(tmp_path / "MNIST" / "raw") and (len(data.train), len(data.test)) == (18, 6)


def test_environment_variable_root_is_searched(tmp_path, no_default_data, monkeypatch, write_mnist_split):
    write_mnist_split(tmp_path / "env" / "mnist", "t10k", 12)
    monkeypatch.setenv("DRAWSTUDIO_DATA", str(tmp_path / "env"))
    assert load_idx_dataset(MNIST).source == str(tmp_path / "env" / "mnist")


def test_home_cache_root_is_searched_in_torchvision_layout(no_default_data, write_mnist_split):
    folder = no_default_data / ".cache" / "drawstudio" / "data" / "MNIST" / "raw"
    write_mnist_split(folder, "train", 12)
    assert load_idx_dataset(MNIST).source == str(folder)


def test_complete_fashion_copy_in_a_data_root_comes_before_the_system_one(
    tmp_path, no_default_data, monkeypatch, write_mnist_split
):
    folder = tmp_path / "env" / "fashion-mnist"
    write_mnist_split(folder, "train", 12)
    write_mnist_split(folder, "t10k", 6)
    monkeypatch.setenv("DRAWSTUDIO_DATA", str(tmp_path / "env"))
    data = load_idx_dataset(FASHION_MNIST)
    assert data.source == str(folder) and data.name == "fashion-mnist" and data.classes[9] == "Ankle boot"


def test_nothing_found_lists_every_place_and_its_contents(tmp_path, no_default_data, monkeypatch):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "fashion-mnist").mkdir()
    (tmp_path / "stuff" / "fashion-mnist" / "foo.txt").write_text("x")
    monkeypatch.setenv("DRAWSTUDIO_DATA", str(tmp_path / "stuff"))
    spec = dataclasses.replace(FASHION_MNIST, system_dirs=(tmp_path / "system",))
    with pytest.raises(DataError) as caught:
        load_idx_dataset(spec)
    message = str(caught.value)
    assert f"no Fashion-MNIST files in {tmp_path / 'stuff' / 'fashion-mnist'} (found: foo.txt)" in message
    for place in (tmp_path / "stuff" / "FashionMNIST" / "raw", no_default_data / ".cache", tmp_path / "system"):
        assert str(place) in message
    assert "\n" not in message


def test_images_without_labels_do_not_count(tmp_path, write_idx):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", torch.zeros(4, 28, 28, dtype=torch.uint8).numpy())
    assert find_idx_files(MNIST, tmp_path) is None
    with pytest.raises(DataError, match=r"found: t10k-images-idx3-ubyte.gz"):
        load_idx_dataset(MNIST, tmp_path)


def test_label_count_mismatch(tmp_path, write_mnist_split, write_idx):
    write_mnist_split(tmp_path, "t10k", 12)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.zeros(11, dtype=torch.uint8).numpy())
    with pytest.raises(DataError, match=r"12 images but .*t10k-labels-idx1-ubyte.gz has 11 labels"):
        load_idx_dataset(MNIST, tmp_path)


def test_label_outside_the_classes(tmp_path, write_mnist_split, write_idx):
    write_mnist_split(tmp_path, "t10k", 12)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.full((12,), 10, dtype=torch.uint8).numpy())
    with pytest.raises(DataError, match="label 10 is not a MNIST class"):
        load_idx_dataset(MNIST, tmp_path)


def test_train_and_test_image_sizes_must_agree(tmp_path, write_mnist_split, write_idx):
    write_mnist_split(tmp_path, "t10k", 12)
    write_mnist_split(tmp_path, "train", 12)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", torch.zeros(12, 32, 32, dtype=torch.uint8).numpy())
    with pytest.raises(DataError, match="train images are 32x32 but test images are 28x28"):
        load_idx_dataset(MNIST, tmp_path)


def test_single_image_cannot_be_split(tmp_path, write_mnist_split):
    write_mnist_split(tmp_path, "t10k", 1)
    with pytest.raises(DataError, match="need at least 2"):
        load_idx_dataset(MNIST, tmp_path)


def test_fashion_mnist_found_in_debian_package_without_configuration(no_default_data):
    # scripts/ensure-data installs the package; CI must have it
    require_files(DEBIAN_FASHION, tuple(f"{split}-{kind}-idx{dims}-ubyte.gz" for split in ("train", "t10k")
                                        for kind, dims in (("images", 3), ("labels", 1))),
                  "file of the Debian package dataset-fashion-mnist")
    data = load_idx_dataset(FASHION_MNIST)
    assert data.source == str(DEBIAN_FASHION)
    assert (len(data.train), len(data.test), data.notes) == (60000, 10000, [])
    assert data.shape == (1, 28, 28) and len(data.classes) == 10
    labels = data.test.labels(torch.arange(10000))
    assert torch.equal(torch.bincount(labels), torch.full((10,), 1000))
