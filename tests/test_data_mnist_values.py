"""MNIST and Fashion-MNIST loading as exact values: the held-out split of a lone split, the
refusals of a bad pair of files, the folders a missing dataset names, and what reaches a
download (its hint and its progress). Downloads come from file:// mirrors: no network."""

import hashlib

import pytest
import torch

from drawstudio.data.mnist import FASHION_MNIST, MNIST, download_idx, load_idx_dataset
from drawstudio.errors import DataError

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"]


def test_a_lone_split_holds_out_its_last_images_with_their_own_labels(tmp_path, write_mnist_split):
    write_mnist_split(tmp_path, "t10k", 7)  # held out: max(1, 7 // 6) = 1; image i has value i, label i % 10
    data = load_idx_dataset(MNIST, tmp_path)
    assert data.train.labels(torch.arange(len(data.train))).tolist() == [0, 1, 2, 3, 4, 5]
    assert data.train.images(torch.arange(len(data.train)))[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert data.test.labels(torch.arange(len(data.test))).tolist() == [6]
    assert data.test.images(torch.arange(len(data.test)))[:, 0, 0, 0].tolist() == [6]
    assert data.notes == ["only the t10k files were found: train = first 6, test = last 1 of t10k"]


def test_images_and_labels_of_different_lengths_are_refused_naming_both_files(tmp_path, write_mnist_split, write_idx):
    write_mnist_split(tmp_path, "t10k", 12)
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.zeros(11, dtype=torch.uint8).numpy())
    with pytest.raises(DataError) as raised:
        load_idx_dataset(MNIST, tmp_path)
    assert str(raised.value) == f"{tmp_path / 't10k-images-idx3-ubyte.gz'}: 12 images but {labels} has 11 labels"


def test_a_label_outside_the_classes_is_refused_with_the_class_range(tmp_path, write_mnist_split, write_idx):
    write_mnist_split(tmp_path, "t10k", 12)
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.full((12,), 10, dtype=torch.uint8).numpy())
    with pytest.raises(DataError) as raised:
        load_idx_dataset(FASHION_MNIST, tmp_path)
    assert str(raised.value) == f"{labels}: label 10 is not a Fashion-MNIST class (0..9)"


def test_a_missing_dataset_names_every_folder_looked_in_separated_by_semicolons(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError) as raised:
        load_idx_dataset(MNIST, tmp_path / "d")
    assert str(raised.value) == (
        f"MNIST not found: looked in no MNIST files in {tmp_path / 'd'} (empty); {tmp_path / 'd' / 'mnist'} "
        f"(does not exist); {tmp_path / 'd' / 'MNIST' / 'raw'} (does not exist); "
        "put the IDX files in one of these or download")


@pytest.mark.parametrize("spec, hint", [(MNIST, "set DRAWSTUDIO_DATA to a folder that holds them"),
                                        (FASHION_MNIST, "install the Debian package dataset-fashion-mnist")])
def test_a_failed_download_ends_with_the_folder_and_the_dataset_s_other_way_to_get_it(tmp_path, spec, hint):
    mirror = (tmp_path / "empty mirror").as_uri() + "/"
    with pytest.raises(DataError) as raised:
        download_idx(spec, tmp_path, progress=lambda *_: None, mirrors=[mirror], resources=[(FILES[0], None)])
    message = str(raised.value)
    assert message.startswith(f"could not download {spec.title} from {mirror}{FILES[0]} (")
    assert message.endswith(f"; put the files in {tmp_path / spec.torchvision_class / 'raw'} or {hint}")


def test_the_progress_given_to_a_load_reports_the_download_it_starts(tmp_path, write_mnist_split, monkeypatch):
    import torchvision.datasets

    served = tmp_path / "served"
    write_mnist_split(served, "train", 12)
    write_mnist_split(served, "t10k", 6)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [served.as_uri() + "/"])
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources",
                        [(name, hashlib.md5((served / name).read_bytes()).hexdigest()) for name in FILES])
    calls = []
    data = load_idx_dataset(MNIST, tmp_path / "data", download=True, progress=lambda *call: calls.append(call))
    assert data.source == str(tmp_path / "data" / "MNIST" / "raw") and (len(data.train), len(data.test)) == (12, 6)
    sizes = {name: (served / name).stat().st_size for name in FILES}
    assert calls == [step for name in FILES for step in ((0, sizes[name], name), (sizes[name], sizes[name], name))]
