"""Where data comes from, as values: the default roots, downloads passed through by name,
the exact refusals of IDX and .npz files, and the shape check of a named dataset."""

import gzip
import struct

import numpy as np
import pytest
import torch

import drawstudio.data as data_module
from drawstudio.data import binarized, idx, load_dataset
from drawstudio.data.base import TensorImageSet
from drawstudio.data.locations import default_roots, download_root
from drawstudio.errors import DataError


def test_the_default_roots_are_the_environment_s_folder_then_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRAWSTUDIO_DATA", "~/datasets")
    cache = tmp_path / "home" / ".cache" / "drawstudio" / "data"
    assert default_roots() == [tmp_path / "home" / "datasets", cache]
    assert download_root(None) == tmp_path / "home" / "datasets"
    assert download_root("~/here") == tmp_path / "home" / "here"
    monkeypatch.delenv("DRAWSTUDIO_DATA")
    assert default_roots() == [cache] and download_root(None) == cache
    assert binarized.candidate_dirs(None) == [cache, cache / "binarized_mnist"]


def test_a_split_gives_the_labels_of_the_indices_asked_for():
    split = TensorImageSet(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.tensor([7, 8, 9]))
    assert split.labels(torch.tensor([2, 0])).tolist() == [9, 7]
    assert TensorImageSet(torch.zeros(3, 1, 2, 2, dtype=torch.uint8)).labels(torch.tensor([0])) is None


@pytest.mark.parametrize("name, loader", [("mnist", "load_idx_dataset"), ("binarized-mnist", "load_binarized"),
                                          ("two-digit-mnist", "load_idx_dataset")])
def test_a_download_request_and_its_progress_reach_the_dataset_s_loader(monkeypatch, name, loader):
    seen = {}

    def fake(*args, download, progress):
        seen.update(download=download, progress=progress)
        raise DataError("stop here")

    monkeypatch.setattr(data_module, loader, fake)
    progress = object()
    with pytest.raises(DataError, match="stop here"):
        load_dataset(name, "/d", download=True, progress=progress)
    assert seen == {"download": True, "progress": progress}


def test_an_unknown_dataset_name_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError) as raised:
        load_dataset("svhn", str(tmp_path))
    assert str(raised.value) == ("unknown dataset 'svhn': not one of mnist, fashion-mnist, binarized-mnist, "
                                 "two-digit-mnist, and not a folder")


def test_a_named_dataset_of_other_channels_is_refused_saying_both_shapes(tmp_path, write_mnist_split):
    write_mnist_split(tmp_path, "t10k", 12)
    with pytest.raises(DataError) as raised:
        load_dataset("mnist", str(tmp_path), channels=3)
    assert str(raised.value) == ("mnist images are 1x28x28 (channels x height x width), not the 3x28x28 asked for; "
                                 "set the model's channels/height/width to match")


def idx_bytes(magic_type: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(">BBBB", 0, 0, magic_type, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + payload


def test_label_file_problems_are_named_as_labels_also_when_gzipped(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (2, 2), b"\0" * 4)))
    with pytest.raises(DataError) as raised:
        idx.read_labels(path)
    assert str(raised.value) == f"{path}: wrong number of dimensions 2, expected 1 for IDX labels"
    raw = tmp_path / "labels"
    raw.write_bytes(idx_bytes(0x09, (2,), b"\0" * 2))
    with pytest.raises(DataError) as raised:
        idx.read_labels(raw)
    assert str(raised.value) == f"{raw}: bad magic 0x00000901, expected 0x00000801 (IDX labels of unsigned bytes)"


def test_an_idx_file_that_cannot_be_opened_says_why(tmp_path, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(idx, "open", refuse, raising=False)
    with pytest.raises(DataError, match=rf"^{tmp_path / 'x'}: cannot read \(Permission denied\)$"):
        idx.read_images(tmp_path / "x")


def test_a_payload_of_exactly_the_limit_is_read_not_refused_as_absurd(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(idx_bytes(0x08, (1000, 1000, 1000), b"\0" * 10))
    with pytest.raises(DataError) as raised:
        idx.read_images(path)
    assert str(raised.value) == f"{path}: payload is 10 bytes, dimensions 1000x1000x1000 need 1,000,000,000"


def test_extra_bytes_after_a_payload_longer_than_one_read_are_refused(tmp_path):
    rows = idx._CHUNK // 100 + 1
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(0x08, (rows, 10, 10), b"\1" * (rows * 100) + b"\2"))
    with pytest.raises(DataError, match=rf"^{path}: payload is longer than dimensions {rows}x10x10 say"):
        idx.read_images(path)


def test_a_missing_binarized_mnist_is_downloaded_when_asked_and_only_then(tmp_path, monkeypatch):
    calls = []

    def fake_download(title, files, mirrors, directory, *, hint, progress):
        calls.append((title, files, mirrors, directory, progress))
        directory.mkdir(parents=True)
        row = "0 " * 784 + "\n"
        for name, _ in files:
            (directory / name).write_text(row * 2)

    monkeypatch.setattr(binarized, "download_files", fake_download)
    progress = object()
    data = binarized.load_binarized(tmp_path, download=True, progress=progress)
    folder = tmp_path / "binarized_mnist"
    assert calls == [("binarized MNIST", [(name, None) for name in binarized.AMAT_NAMES.values()],
                      [binarized.BINARIZED_MNIST_URL], folder, progress)]
    assert data.source == str(folder) and len(data.train) == 2
    binarized.load_binarized(tmp_path, download=True)
    assert len(calls) == 1  # present now: not downloaded again


def test_a_missing_binarized_mnist_lists_every_folder_looked_in(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError) as raised:
        binarized.load_binarized(tmp_path / "d")
    assert str(raised.value) == (
        f"binarized MNIST not found (mnist_binarized.npz or the three .amat files): looked in no binarized MNIST "
        f"files in {tmp_path / 'd'} (empty); {tmp_path / 'd' / 'binarized_mnist'} (does not exist)")


def test_npz_problems_are_named_exactly(tmp_path):
    with pytest.raises(DataError, match=rf"^{tmp_path / 'gone.npz'}: file not found$"):
        binarized.read_npz(tmp_path / "gone.npz")
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(DataError) as raised:
        binarized.read_npz(single)
    assert str(raised.value) == f"{single}: a single array, expected an .npz archive with X_train, X_valid, X_test"
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    with pytest.raises(DataError) as raised:
        binarized.read_npz(empty)
    assert str(raised.value) == f"{empty}: missing X_train, X_valid, X_test (has nothing)"


def test_a_cut_gzip_stream_says_so_in_gzip_s_words_or_in_its_own(tmp_path, monkeypatch):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (2, 2, 2), b"\0" * 8))[:-10])
    with pytest.raises(DataError) as raised:
        idx.read_images(path)
    assert str(raised.value) == (f"{path}: corrupt gzip data (Compressed file ended before the end-of-stream "
                                 "marker was reached)")

    class Silent:
        def __init__(self, fileobj):
            raise EOFError()

    monkeypatch.setattr(idx.gzip, "GzipFile", Silent)
    with pytest.raises(DataError, match=rf"^{path}: corrupt gzip data \(stream ends early\)$"):
        idx.read_images(path)


def test_a_long_valid_amat_file_is_not_taken_for_an_overlong_line(tmp_path):
    path = tmp_path / "many.amat"
    path.write_text(("0 " * 784 + "\n") * 44 + "0 " * 784 + "   \n")  # the longest line ends past 64 KB
    assert binarized.read_amat(path).shape == (45, 784)


def test_a_line_of_exactly_the_length_limit_is_read_and_judged_by_its_values(tmp_path):
    path = tmp_path / "edge.amat"
    path.write_text("0 " * 32767 + "0\n")  # 65,536 bytes with its newline
    with pytest.raises(DataError) as raised:
        binarized.read_amat(path)
    assert str(raised.value) == f"{path}: line 1 has 32768 values, expected 784"
