"""The dataset picker's list as values: for each layout of files, what every entry says."""

from drawstudio.data import DatasetInfo, available_datasets

TWO_DIGIT_NOTE = "two digits per 60x60 canvas, composed from MNIST"


def listing(folder) -> list[DatasetInfo]:
    return available_datasets(str(folder))


def test_an_empty_folder_lists_every_dataset_as_missing_with_where_it_was_looked_for(tmp_path, no_default_data):
    assert listing(tmp_path) == [
        DatasetInfo("mnist", None, False, True,
                    f"not found; looked in {tmp_path}, {tmp_path / 'mnist'}, {tmp_path / 'MNIST' / 'raw'}"),
        DatasetInfo("fashion-mnist", None, False, True,
                    f"not found; looked in {tmp_path / 'fashion-mnist'}, {tmp_path / 'FashionMNIST' / 'raw'}"),
        DatasetInfo("binarized-mnist", None, False, True,
                    f"not found; looked in {tmp_path}, {tmp_path / 'binarized_mnist'}"),
        DatasetInfo("two-digit-mnist", None, False, True, TWO_DIGIT_NOTE),
    ]


def test_a_complete_mnist_folder_is_offered_as_mnist_and_as_two_digit_mnist(tmp_path, no_default_data,
                                                                             write_mnist_split):
    folder = tmp_path / "mnist"
    write_mnist_split(folder, "train", 12)
    write_mnist_split(folder, "t10k", 12)
    infos = listing(folder)
    assert infos[0] == DatasetInfo("mnist", str(folder), True, True, "train and test files")
    assert infos[1].note == (f"not found; looked in {folder / 'fashion-mnist'}, {folder / 'FashionMNIST' / 'raw'} "
                             f"(the IDX files in {folder} count as mnist, after the folder's name)")
    assert infos[3] == DatasetInfo("two-digit-mnist", str(folder), True, True, TWO_DIGIT_NOTE)


def test_train_files_alone_in_an_unnamed_folder_are_taken_as_mnist_and_say_so(tmp_path, no_default_data,
                                                                                write_mnist_split):
    folder = tmp_path / "downloads"
    write_mnist_split(folder, "train", 12)
    infos = listing(folder)
    assert infos[0] == DatasetInfo(
        "mnist", str(folder), True, True,
        "only the train files: its last images are held out for testing (taken as MNIST: nothing in the "
        "folder's name says which dataset these IDX files are)")
    assert infos[1].note.endswith(
        f" (the IDX files in {folder} count as mnist: the folder's name does not say which dataset they are; "
        f"Fashion-MNIST files belong in {folder / 'fashion-mnist'})")


def test_t10k_files_in_a_folder_named_for_fashion_mnist_are_fashion_mnist(tmp_path, no_default_data,
                                                                          write_mnist_split):
    folder = tmp_path / "Fashion_MNIST"
    write_mnist_split(folder, "t10k", 12)
    infos = listing(folder)
    assert infos[1] == DatasetInfo("fashion-mnist", str(folder), True, True,
                                   "only the t10k files: its last images are held out for testing")
    assert infos[0].note.endswith(f" (the IDX files in {folder} count as fashion-mnist, after the folder's name)")
    assert infos[3] == DatasetInfo("two-digit-mnist", None, False, True, TWO_DIGIT_NOTE)


def test_a_binarized_mnist_file_is_listed_with_its_splits(tmp_path, no_default_data):
    (tmp_path / "binarized_mnist").mkdir()
    (tmp_path / "binarized_mnist" / "mnist_binarized.npz").write_bytes(b"")  # existence is enough
    assert listing(tmp_path)[2] == DatasetInfo("binarized-mnist", str(tmp_path / "binarized_mnist" / "mnist_binarized.npz"),
                                               True, True, "fixed 0/1 images with train, valid and test splits")
