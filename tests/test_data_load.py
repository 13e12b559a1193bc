import numpy as np
import pytest
from PIL import Image

from drawstudio.data import DATASETS, DatasetInfo, available_datasets, load_dataset
from drawstudio.errors import DataError


def test_load_dataset_dispatches_named_datasets(shared_data):
    assert load_dataset("mnist", str(shared_data)).name == "mnist"
    binary = load_dataset("binarized-mnist", str(shared_data), image_size=(28, 28), channels=1)
    assert binary.binary and binary.valid is not None
    assert load_dataset("two-digit-mnist", str(shared_data)).shape == (1, 60, 60)


def test_fixed_dataset_with_a_different_requested_shape(shared_data):
    with pytest.raises(DataError, match=r"mnist images are 1x28x28 .* not the 3x32x32 asked for"):
        load_dataset("mnist", str(shared_data), image_size=(32, 32), channels=3)


def test_folder_path_loads_a_folder_dataset(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((9, 9, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    data = load_dataset(str(tmp_path), image_size=(8, 8), channels=1)
    assert data.shape == (1, 8, 8) and len(data.train) + len(data.test) == 3


def test_folder_name_relative_to_data_dir(tmp_path):
    (tmp_path / "faces").mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "faces" / f"{i}.png")
    assert load_dataset("faces", str(tmp_path)).source == str(tmp_path / "faces")


def test_unknown_name_lists_valid_names(tmp_path):
    with pytest.raises(DataError) as caught:
        load_dataset("cifar", str(tmp_path))
    assert "unknown dataset 'cifar'" in str(caught.value)
    assert all(name in str(caught.value) for name in DATASETS)


def test_available_datasets_with_shared_data(shared_data):
    infos = {info.name: info for info in available_datasets(str(shared_data))}
    assert list(infos) == ["mnist", "fashion-mnist", "binarized-mnist", "two-digit-mnist"]
    assert all(isinstance(info, DatasetInfo) and info.downloadable for info in infos.values())
    assert infos["mnist"].present and infos["mnist"].location == str(shared_data / "mnist")
    assert "t10k" in infos["mnist"].note
    assert infos["binarized-mnist"].location == str(shared_data / "binarized_mnist" / "mnist_binarized.npz")
    assert infos["two-digit-mnist"].present
    assert not infos["fashion-mnist"].present and infos["fashion-mnist"].location is None


def test_available_datasets_nothing_present(tmp_path):
    infos = available_datasets(str(tmp_path))
    assert [info.present for info in infos] == [False] * 4
    assert str(tmp_path) in infos[0].note


def test_available_datasets_reads_no_file(tmp_path, write_mnist_split):
    write_mnist_split(tmp_path, "t10k", 12)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")  # only existence is checked
    infos = {info.name: info for info in available_datasets(str(tmp_path))}
    assert infos["mnist"].present
    with pytest.raises(DataError, match="not a gzip file"):
        load_dataset("mnist", str(tmp_path))


def test_bare_idx_files_are_listed_under_one_dataset_but_load_as_the_one_named(
    tmp_path, no_default_data, write_mnist_split
):
    unnamed, fashion = tmp_path / "downloads", tmp_path / "Fashion_MNIST"
    for folder in (unnamed, fashion):
        write_mnist_split(folder, "t10k", 12)
    present = {folder: {info.name for info in available_datasets(str(folder)) if info.present}
               for folder in (unnamed, fashion)}
    assert present[unnamed] == {"mnist", "two-digit-mnist"}  # the format's namesake, not Fashion-MNIST too
    assert present[fashion] == {"fashion-mnist"}  # the folder's name says which they are
    fashion_info = next(info for info in available_datasets(str(unnamed)) if info.name == "fashion-mnist")
    assert "count as mnist" in fashion_info.note and str(unnamed / "fashion-mnist") in fashion_info.note
    explicit = load_dataset("fashion-mnist", str(unnamed))  # asked for by name: the files are taken as that
    assert explicit.name == "fashion-mnist" and explicit.source == str(unnamed)


def test_shared_mnist_folder_is_not_offered_as_fashion_mnist(shared_data):
    infos = {info.name: info for info in available_datasets(str(shared_data / "mnist"))}
    assert infos["mnist"].present and not infos["fashion-mnist"].present


@pytest.mark.parametrize("name, shape, classes", [
    ("mnist", (1, 28, 28), 10), ("fashion-mnist", (1, 28, 28), 10), ("binarized-mnist", (1, 28, 28), 0),
    ("two-digit-mnist", (1, 60, 60), 0),
])
def test_dataset_facts_say_the_shape_and_classes_a_load_gives(name, shape, classes, shared_data):
    from drawstudio.data import dataset_facts

    facts = dataset_facts(name)
    assert (facts.shape, facts.num_classes) == (shape, classes)
    if name in ("mnist", "two-digit-mnist", "binarized-mnist"):  # the ones ../shared/data holds
        folder = shared_data / ("binarized_mnist" if name == "binarized-mnist" else "mnist")
        data = load_dataset(name, str(folder))
        assert (tuple(data.shape), data.num_classes) == (shape, classes)


def test_a_folder_has_no_facts_before_it_is_read(tmp_path):
    from drawstudio.data import dataset_facts

    assert dataset_facts(str(tmp_path)) is None
