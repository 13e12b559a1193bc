import numpy as np
import pytest
import torch

from drawstudio.data.binarized import AMAT_NAMES, NPZ_NAME, find_binarized, load_binarized, read_amat, read_npz
from drawstudio.errors import DataError


def arrays(n=(4, 3, 2), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return {f"X_{split}": rng.integers(0, 2, (count, 784)).astype(dtype)
            for split, count in zip(("train", "valid", "test"), n, strict=True)}


def write_amat(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(str(int(v)) for v in row) + "\n" for row in rows))
    return path


def test_real_shared_npz_has_three_binary_splits(shared_data, no_default_data):
    data = load_binarized(shared_data)
    assert data.name == "binarized-mnist" and data.binary and data.classes is None
    assert (len(data.train), len(data.valid), len(data.test)) == (50000, 10000, 10000)
    assert data.source == str(shared_data / "binarized_mnist" / NPZ_NAME)
    sample = data.train.images(torch.arange(0, 50000, 97))
    assert sample.dtype == torch.uint8 and sample.shape[1:] == (1, 28, 28)
    assert set(sample.unique().tolist()) == {0, 255}
    assert data.valid.labels(torch.arange(3)) is None


def test_synthetic_npz_round_trip(tmp_path):
    source = arrays()
    np.savez(tmp_path / NPZ_NAME, **source)
    data = load_binarized(tmp_path)
    images = data.test.images(torch.arange(2))
    assert torch.equal(images.view(2, 784), torch.from_numpy(source["X_test"] * 255).to(torch.uint8))


def test_amat_files_round_trip(tmp_path):
    source = arrays((3, 2, 2))
    for split, name in AMAT_NAMES.items():
        write_amat(tmp_path / "binarized_mnist" / name, source[f"X_{split}"])
    assert find_binarized(tmp_path) == tmp_path / "binarized_mnist"
    data = load_binarized(tmp_path)
    assert (len(data.train), len(data.valid), len(data.test)) == (3, 2, 2) and data.binary
    valid = data.valid.images(torch.arange(2)).view(2, 784)
    assert torch.equal(valid, torch.from_numpy(source["X_valid"] * 255).to(torch.uint8))


def test_amat_tolerates_crlf_trailing_space_and_blank_lines(tmp_path):
    rows = arrays((2, 1, 1))["X_train"].astype(int)
    text = "\r\n".join(" ".join(map(str, row)) + " " for row in rows) + "\r\n\r\n"
    path = tmp_path / "a.amat"
    path.write_text(text, newline="")
    np.testing.assert_array_equal(read_amat(path), rows * 255)


def test_npz_wins_over_amat_in_the_same_folder(tmp_path):
    np.savez(tmp_path / NPZ_NAME, **arrays())
    for name in AMAT_NAMES.values():
        write_amat(tmp_path / name, np.zeros((1, 784)))
    assert find_binarized(tmp_path) == tmp_path / NPZ_NAME


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.pop("X_valid"), r"missing X_valid \(has X_train, X_test\)"),
        (lambda a: a.update(X_test=np.zeros((2, 783))), r"X_test has shape \(2, 783\), expected \(N, 784\)"),
        (lambda a: a.update(X_train=np.zeros(784)), r"X_train has shape \(784,\)"),
        (lambda a: a.update(X_train=np.zeros((0, 784))), r"X_train has shape \(0, 784\)"),
        (lambda a: a["X_train"].__setitem__((1, 5), 0.5), r"values other than 0 and 1 in X_train \(e.g. 0.5\)"),
        (lambda a: a["X_valid"].__setitem__((0, 0), np.nan), r"values other than 0 and 1 in X_valid \(e.g. nan\)"),
        (lambda a: a.update(X_test=np.full((2, 784), "1")), "X_test holds <U1 values"),
    ],
    ids=["missing-key", "bad-width", "one-dim", "empty", "half", "nan", "strings"],
)
def test_bad_npz_named_with_the_problem(tmp_path, change, match):
    content = arrays()
    change(content)
    path = tmp_path / NPZ_NAME
    np.savez(path, **content)
    with pytest.raises(DataError, match=match) as caught:
        load_binarized(tmp_path)
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"garbage that is not a zip", "not a readable .npz archive"),
        (b"", "not a readable .npz archive"),
    ],
)
def test_unreadable_npz(tmp_path, content, match):
    path = tmp_path / NPZ_NAME
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_npz(path)


def test_single_array_npy_is_not_an_archive(tmp_path):
    path = tmp_path / "x.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((2, 784)))
    with pytest.raises(DataError, match="a single array"):
        read_npz(path)


def test_object_array_is_refused_without_unpickling(tmp_path):
    content = arrays()
    content["X_train"] = np.array([{"evil": 1}], dtype=object)
    path = tmp_path / NPZ_NAME
    np.savez(path, **content)
    with pytest.raises(DataError, match="cannot read X_train"):
        read_npz(path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("0 1\n", "line 1 has 2 values, expected 784"),
        ("0 " * 784 + "\n" + "1 " * 783 + "\n", "line 2 has 783 values"),
        ("0 " * 783 + "0.5\n", r"line 1: value '0.5', expected 0 or 1"),
        ("0 " * 783 + "2\n", r"line 1: value '2', expected 0 or 1"),
        ("0 " * 784 + "\n" + "1 " * 10 + "10 " + "1 " * 773 + "\n", r"line 2: value '10'"),
        ("", "no images"),
        ("\n\n", "no images"),
    ],
    ids=["short-row", "second-row-short", "fraction", "digit-2", "multi-digit", "empty", "blank"],
)
def test_bad_amat_named_with_line_and_problem(tmp_path, text, match):
    path = tmp_path / "binarized_mnist_train.amat"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as caught:
        read_amat(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_incomplete_amat_set_is_not_found_and_the_error_lists_the_folder(tmp_path, no_default_data):
    write_amat(tmp_path / AMAT_NAMES["train"], np.zeros((1, 784)))
    assert find_binarized(tmp_path) is None
    with pytest.raises(DataError, match=rf"no binarized MNIST files in {tmp_path} \(found: binarized_mnist_train.amat"):
        load_binarized(tmp_path)


def test_amat_error_line_numbers_count_across_blocks_of_lines(tmp_path):
    rows = ["0 " * 784] * 300
    rows[289] = "0 " * 783 + "7"
    path = tmp_path / "a.amat"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="line 290: value '7'"):
        read_amat(path)
    rows[289] = "1 " * 784
    path.write_text("\n".join(rows))  # no final newline
    images = read_amat(path)
    assert images.shape == (300, 784) and images[289].min() == 255 and images[288].max() == 0


def test_amat_overlong_line_rejected_before_parsing(tmp_path):
    path = tmp_path / "a.amat"
    path.write_bytes(b"0\n" + b"1" * 100_000)
    with pytest.raises(DataError, match="line 2 is 100,000 bytes long"):
        read_amat(path)
