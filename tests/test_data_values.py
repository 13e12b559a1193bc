"""Data plumbing as values: the epoch sampler's edges, which files of a folder count, how
IDX folders are named, the download progress bars and the online probe."""

import sys
import types

import pytest
import torch

from drawstudio.data import available_datasets, download
from drawstudio.data.batches import EpochSampler
from drawstudio.data.folder import load_folder
from drawstudio.errors import DataError


def test_a_batch_of_one_and_a_batch_of_the_whole_set_are_allowed():
    assert len(EpochSampler(5, 1, 0).next_indices()) == 1
    assert sorted(EpochSampler(4, 4, 0).next_indices().tolist()) == [0, 1, 2, 3]
    with pytest.raises(DataError, match="^batch size 0 must be at least 1$"):
        EpochSampler(5, 0, 0)


def test_without_drop_last_a_last_batch_of_one_image_is_still_drawn():
    sampler = EpochSampler(5, 2, 0, drop_last=False)
    batches = [sampler.next_indices().tolist() for _ in range(4)]
    assert [len(b) for b in batches] == [2, 2, 1, 2]
    assert sorted(sum(batches[:3], [])) == [0, 1, 2, 3, 4] and sampler.epoch == 1


def test_with_drop_last_a_last_batch_that_is_exactly_full_is_drawn():
    sampler = EpochSampler(6, 3, 0)
    first, second = sampler.next_indices().tolist(), sampler.next_indices().tolist()
    assert sorted(first + second) == list(range(6)) and sampler.epoch == 0
    sampler.next_indices()
    assert sampler.epoch == 1


def test_a_sampler_state_at_the_end_of_an_epoch_is_valid_and_a_bad_one_says_what_fits():
    sampler = EpochSampler(6, 3, 0, name="tiny")
    sampler.load_state_dict({"epoch": 2, "position": 6})
    sampler.next_indices()
    assert (sampler.epoch, sampler.position) == (3, 3)
    with pytest.raises(DataError) as raised:
        sampler.load_state_dict({"epoch": 0, "position": 7})
    assert str(raised.value) == ("sampler state {'epoch': 0, 'position': 7} does not fit the 6 images of tiny "
                                 "(expected ints epoch >= 0 and 0 <= position <= n)")


def write_pngs(folder, names):
    from PIL import Image

    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (6, 6), color=len(name)).save(path)


def test_hidden_files_inside_class_folders_are_not_images_of_the_class(tmp_path):
    write_pngs(tmp_path, ["a/1.png", "a/2.png", "b/1.png", "b/2.png", "a/.thumbs/3.png", "b/.4.png"])
    data = load_folder(tmp_path)
    assert data.classes == ["a", "b"] and len(data.train) + len(data.test) == 4


def test_idx_files_in_torchvision_s_raw_folder_are_named_by_its_parent(tmp_path, no_default_data, write_mnist_split):
    write_mnist_split(tmp_path / "MNIST" / "raw", "t10k", 12)
    mnist = available_datasets(str(tmp_path))[0]
    assert mnist.location == str(tmp_path / "MNIST" / "raw")
    assert mnist.note == "only the t10k files: its last images are held out for testing"


def test_a_folder_name_is_matched_ignoring_case_and_punctuation(tmp_path, no_default_data, write_mnist_split):
    folder = tmp_path / "Fashion - MNIST"
    write_mnist_split(folder, "t10k", 12)
    assert [info.name for info in available_datasets(str(folder)) if info.present] == ["fashion-mnist"]


def test_the_download_progress_shows_one_bar_per_file_advanced_by_the_bytes_since_the_last_call(monkeypatch):
    bars = []

    class FakeBar:
        def __init__(self, total, desc, unit, unit_scale, unit_divisor):
            self.total, self.desc, self.steps, self.closed = total, desc, [], False
            bars.append(self)

        def update(self, n):
            self.steps.append(n)

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    progress = download.TqdmProgress()
    progress(10, 100, "a.gz")
    progress(30, 100, "a.gz")
    progress(5, 50, "b.gz")
    progress.close()
    assert [(b.desc, b.total, b.steps, b.closed) for b in bars] == [
        ("a.gz", 100, [10, 20], True), ("b.gz", 50, [5], True)]


def test_the_online_probe_resolves_and_connects_within_its_timeout(monkeypatch):
    calls = []

    class Connection:
        def close(self):
            calls.append("closed")

    monkeypatch.setattr(download, "_resolve", lambda host, port, timeout: calls.append((host, port, timeout))
                        or ("10.0.0.1", port))
    monkeypatch.setattr(download.socket, "create_connection",
                        lambda address, timeout: calls.append((address, timeout)) or Connection())
    assert download.online("https://example.org/x", timeout=0.5)
    assert download.online("http://example.org:8080/", timeout=1.5)
    assert download.online("file:///local", timeout=1.0)
    assert calls == [("example.org", 443, 0.5), (("10.0.0.1", 443), 0.5), "closed",
                     ("example.org", 8080, 1.5), (("10.0.0.1", 8080), 1.5), "closed",
                     ("", 80, 1.0), (("10.0.0.1", 80), 1.0), "closed"]


def test_the_online_probe_says_offline_when_the_connection_fails(monkeypatch):
    monkeypatch.setattr(download, "_resolve", lambda host, port, timeout: ("10.0.0.1", port))

    def refuse(address, timeout):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(download.socket, "create_connection", refuse)
    assert download.online("https://example.org/", timeout=0.1) is False


@pytest.mark.parametrize("mode", ["threshold", "none", "dynamic"])
def test_every_binarisation_gives_float32_on_the_requested_device(mode):
    from drawstudio.data.batches import to_model_input

    images = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = to_model_input(images, mode, device="meta")
    assert x.device.type == "meta" and x.dtype == torch.float32
    assert to_model_input(images, mode).dtype == torch.float32


def test_dynamic_binarisation_without_a_generator_draws_from_the_global_rng():
    from drawstudio.data.batches import to_model_input

    images = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).repeat(4, 1, 1, 1)
    torch.manual_seed(5)
    first = to_model_input(images, "dynamic")
    torch.manual_seed(5)
    assert torch.equal(to_model_input(images, "dynamic"), first)


def test_a_failed_binarized_mnist_download_says_where_to_put_the_file(monkeypatch, tmp_path):
    from drawstudio.data import binarized

    seen = {}
    monkeypatch.setattr(binarized, "download_files", lambda *args, **kwargs: seen.update(args=args, **kwargs))
    assert binarized.download_binarized(tmp_path, base_url="http://mirror/") == tmp_path / "binarized_mnist"
    assert seen["hint"] == "put mnist_binarized.npz there" and seen["args"][2] == ["http://mirror/"]


def test_hidden_files_and_folders_are_neither_images_nor_classes(tmp_path):
    write_pngs(tmp_path, ["a/1.png", "a/2.png", "b/1.png", "b/2.png", ".cache/1.png", ".cache/2.png"])
    data = load_folder(tmp_path)
    assert data.classes == ["a", "b"]
    assert data.notes == ["test = 1 of 4 images, chosen by the hash of their file names"]
    flat = tmp_path / "flat"
    write_pngs(flat, ["1.png", "2.png", ".3.png"])
    assert len(load_folder(flat).train) + len(load_folder(flat).test) == 2


def test_images_beside_class_folders_are_left_out_and_the_notes_say_so(tmp_path):
    write_pngs(tmp_path, ["a/1.png", "a/2.png", "b/1.png", "stray.png"])
    assert load_folder(tmp_path).notes[0] == (f"left out 1 image(s) lying directly in {tmp_path}: "
                                              "class subfolders define the dataset")


@pytest.mark.parametrize("n, held", [(2, 1), (7, 1), (12, 2)])
def test_a_single_idx_split_holds_out_a_sixth_for_testing_and_at_least_one(tmp_path, write_mnist_split, n, held):
    from drawstudio.data import load_dataset

    write_mnist_split(tmp_path, "t10k", n)
    data = load_dataset("mnist", str(tmp_path))
    assert (len(data.train), len(data.test)) == (n - held, held)


def test_a_single_idx_image_cannot_be_split(tmp_path, write_mnist_split):
    from drawstudio.data import load_dataset

    write_mnist_split(tmp_path, "t10k", 1)
    with pytest.raises(DataError, match=rf"^{tmp_path}: only 1 MNIST image, need at least 2 to hold one out"):
        load_dataset("mnist", str(tmp_path))


def test_a_bad_sampler_state_of_an_unnamed_set_speaks_of_the_dataset():
    with pytest.raises(DataError, match=r"^sampler state \{'epoch': -1\} does not fit the 6 images of the dataset "):
        EpochSampler(6, 3, 0).load_state_dict({"epoch": -1})
