"""What the data loaders say when they cannot use a file or folder, as exact values."""

import pytest

from drawstudio.data.binarized import read_amat
from drawstudio.data.locations import describe_miss
from drawstudio.errors import DataError


def test_a_missed_folder_is_described_by_what_it_holds(tmp_path):
    assert describe_miss(tmp_path / "gone", "MNIST") == f"{tmp_path / 'gone'} (does not exist)"
    (tmp_path / "file").write_text("")
    assert describe_miss(tmp_path / "file", "MNIST") == f"{tmp_path / 'file'} (not a directory)"
    (tmp_path / "empty").mkdir()
    assert describe_miss(tmp_path / "empty", "MNIST") == f"no MNIST files in {tmp_path / 'empty'} (empty)"
    folder = tmp_path / "some"
    folder.mkdir()
    (folder / "b.txt").write_text("")
    (folder / "a").mkdir()
    assert describe_miss(folder, "MNIST") == f"no MNIST files in {folder} (found: a/, b.txt)"


def test_a_missed_folder_with_many_entries_lists_the_first_eight(tmp_path):
    for i in range(11):
        (tmp_path / f"f{i:02d}").write_text("")
    shown = ", ".join(f"f{i:02d}" for i in range(8))
    assert describe_miss(tmp_path, "x") == f"no x files in {tmp_path} (found: {shown}, ... 3 more)"
    (tmp_path / "f10").unlink()
    (tmp_path / "f09").unlink()
    assert describe_miss(tmp_path, "x") == f"no x files in {tmp_path} (found: {shown}, ... 1 more)"
    (tmp_path / "f08").unlink()
    assert describe_miss(tmp_path, "x") == f"no x files in {tmp_path} (found: {shown})"


def test_a_folder_that_cannot_be_listed_says_why(tmp_path, monkeypatch):
    from pathlib import Path

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    assert describe_miss(tmp_path, "x") == f"{tmp_path} (cannot list: Permission denied)"


@pytest.mark.parametrize("token, shown", [
    ("2" * 20, "2" * 20),  # exactly 20 characters: shown whole
    ("3" * 21, "3" * 20 + "..."),  # longer: cut with an ellipsis
])
def test_a_bad_amat_value_is_shown_up_to_twenty_characters(tmp_path, token, shown):
    path = tmp_path / "x.amat"
    path.write_text("0 " * 783 + token + " \n")
    with pytest.raises(DataError) as raised:
        read_amat(path)
    assert str(raised.value) == f"{path}: line 1: value {shown!r}, expected 0 or 1"


def test_a_bad_amat_value_at_the_very_end_of_the_file_is_shown(tmp_path):
    path = tmp_path / "x.amat"
    path.write_text("0 " * 783 + "7")
    with pytest.raises(DataError) as raised:
        read_amat(path)
    assert str(raised.value) == f"{path}: line 1: value '7', expected 0 or 1"


def test_an_amat_file_that_cannot_be_read_says_why(tmp_path):
    with pytest.raises(DataError, match=rf"^{tmp_path / 'gone.amat'}: file not found$"):
        read_amat(tmp_path / "gone.amat")
    (tmp_path / "dir.amat").mkdir()
    with pytest.raises(DataError, match=rf"^{tmp_path / 'dir.amat'}: cannot read \(Is a directory\)$"):
        read_amat(tmp_path / "dir.amat")


def test_an_overlong_amat_line_is_refused_by_its_number_and_length(tmp_path):
    path = tmp_path / "x.amat"
    path.write_text("0 " * 784 + "\n" + "0" * 70_000 + "\n")
    with pytest.raises(DataError) as raised:
        read_amat(path)
    assert str(raised.value) == f"{path}: line 2 is 70,001 bytes long, not a line of 784 values 0/1"


def test_a_bad_amat_value_at_the_start_of_a_line_is_on_that_line(tmp_path):
    path = tmp_path / "x.amat"
    path.write_text("0 " * 784 + "\n" + "x " + "0 " * 783 + "\n")
    with pytest.raises(DataError, match=r"line 2: value 'x', expected 0 or 1$"):
        read_amat(path)


def test_a_value_of_two_digits_is_shown_whole_even_when_another_follows_at_once(tmp_path):
    path = tmp_path / "x.amat"
    path.write_text("0 01 1 " + "0 " * 781 + "\n")
    with pytest.raises(DataError, match=r"line 1: value '01', expected 0 or 1$"):
        read_amat(path)


def test_a_download_failure_is_explained_in_a_few_words():
    from drawstudio.data.download import _reason

    assert _reason(TimeoutError()) == "timed out"
    assert _reason(ConnectionRefusedError(111, "Connection refused")) == "Connection refused"
    assert _reason(OSError("no strerror")) == "no strerror"
    assert _reason(ValueError()) == "ValueError"
    assert _reason("HTTP 404") == "HTTP 404"
