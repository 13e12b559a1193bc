"""A missing shared data file skips locally but fails under CI, naming the file."""

import pytest

from required_files import require_files

NAMES = ("mnist/t10k-images-idx3-ubyte.gz", "binarized_mnist/mnist_binarized.npz")


OUTCOMES = (pytest.fail.Exception, pytest.skip.Exception)  # caught both, so a wrong one fails the test


def make(root, *names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_a_missing_shared_file_fails_under_ci_naming_the_file(tmp_path, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    make(tmp_path, NAMES[0])
    with pytest.raises(OUTCOMES, match="binarized_mnist/mnist_binarized.npz is missing; under CI") as outcome:
        require_files(tmp_path, NAMES, "shared data file")
    assert outcome.type is pytest.fail.Exception


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_a_missing_shared_file_skips_locally_with_the_reason(tmp_path, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(OUTCOMES, match=f"shared data file {tmp_path / NAMES[0]} is missing") as outcome:
        require_files(tmp_path, NAMES, "shared data file")
    assert outcome.type is pytest.skip.Exception


def test_present_shared_files_give_their_folder_even_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    make(tmp_path, *NAMES)
    assert require_files(tmp_path, NAMES, "shared data file") == tmp_path


def test_the_shared_data_fixture_fails_under_ci_when_the_folder_moved(tmp_path, monkeypatch):
    import conftest

    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "nowhere")
    with pytest.raises(OUTCOMES, match=f"{tmp_path / 'nowhere' / 'mnist'}.* is missing") as outcome:
        conftest.require_shared_data()
    assert outcome.type is pytest.fail.Exception
