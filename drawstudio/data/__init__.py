"""Datasets: load one by name (or folder path) as uint8 `ImageData`, and list what is on disk.

Names: "mnist", "fashion-mnist" (`mnist.py`), "binarized-mnist" (`binarized.py`),
"two-digit-mnist" (`two_digit.py`, built from MNIST), or the path of a folder of
images (`folder.py`). Each module's docstring says where its files are looked for and
how a test split is held out when the files have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drawstudio.data import binarized, two_digit
from drawstudio.data.base import ImageData, ImageSet, TensorImageSet
from drawstudio.data.binarized import find_binarized, load_binarized
from drawstudio.data.download import Progress, online
from drawstudio.data.folder import load_folder
from drawstudio.data.mnist import SIDE as IDX_SIDE
from drawstudio.data.mnist import (IDX_DATASETS, IdxDataset, MNIST, bare_files_elsewhere, find_idx_files, listed_dirs,
                                   load_idx_dataset, named_after)
from drawstudio.data.two_digit import two_digit_mnist
from drawstudio.errors import DataError

DATASETS = (*IDX_DATASETS, binarized.NAME, two_digit.NAME)

__all__ = [
    "DATASETS", "DatasetFacts", "DatasetInfo", "ImageData", "ImageSet", "Progress", "TensorImageSet",
    "available_datasets", "dataset_facts", "load_dataset", "online",
]


@dataclass(frozen=True)
class DatasetFacts:
    """What a named dataset is, known without reading it."""

    shape: tuple[int, int, int]  # (channels, height, width) of its images
    num_classes: int  # labelled classes; 0 when it has no labels


def dataset_facts(name: str) -> DatasetFacts | None:
    """The facts of a named dataset; None for a folder (its images take the model's size)."""
    if name in IDX_DATASETS:
        return DatasetFacts((1, IDX_SIDE, IDX_SIDE), len(IDX_DATASETS[name].classes))
    if name == binarized.NAME:
        return DatasetFacts((1, binarized.SIDE, binarized.SIDE), 0)
    if name == two_digit.NAME:
        return DatasetFacts((1, two_digit.CANVAS, two_digit.CANVAS), 0)
    return None


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of the studio's dataset picker."""

    name: str
    location: str | None  # the file or folder it would be loaded from; None when absent
    present: bool
    downloadable: bool  # has a download source (whether we are online is `online()`'s question)
    note: str


def load_dataset(
    name: str,
    data_dir: str | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    download: bool = False,
    progress: Progress | None = None,
) -> ImageData:
    """Load a dataset by name, or a folder of images by path.

    `image_size` (H, W) and `channels` resize/convert a folder's images; the fixed
    datasets are only checked against them (a mismatch is a `DataError`). `download`
    fetches a missing dataset first, reporting to `progress(done, total, what)` (a tqdm
    bar when None). Known names win over a folder of the same name.
    """
    if name in IDX_DATASETS:
        data = load_idx_dataset(IDX_DATASETS[name], data_dir, download=download, progress=progress)
    elif name == binarized.NAME:
        data = load_binarized(data_dir, download=download, progress=progress)
    elif name == two_digit.NAME:
        data = two_digit_mnist(load_idx_dataset(MNIST, data_dir, download=download, progress=progress))
    else:
        folder = _folder(name, data_dir)
        if folder is None:
            raise DataError(f"unknown dataset {name!r}: not one of {', '.join(DATASETS)}, and not a folder")
        return load_folder(folder, image_size=image_size, channels=channels)
    _check_shape(data, image_size, channels)
    return data


def available_datasets(data_dir: str | None = None) -> list[DatasetInfo]:
    """What each named dataset would load from, by file existence only (no file is read).

    IDX files lying in data_dir itself are listed once, under the dataset the folder is
    named after, else under mnist (see `drawstudio.data.mnist`): their names cannot tell
    MNIST from Fashion-MNIST, so listing them under both would offer the wrong dataset.
    """
    infos = []
    for name, spec in IDX_DATASETS.items():
        files = find_idx_files(spec, data_dir, named=False)
        if files is None:
            looked = ", ".join(str(d) for d in listed_dirs(spec, data_dir))
            infos.append(DatasetInfo(name, None, False, True, f"not found; looked in {looked}"
                                     + _bare_files_note(spec, data_dir)))
            continue
        note = "train and test files" if files.complete else (
            f"only the {'train' if files.train else 't10k'} files: its last images are held out for testing"
        )
        if not named_after(spec, files.directory):
            note += f" (taken as {spec.title}: nothing in the folder's name says which dataset these IDX files are)"
        infos.append(DatasetInfo(name, str(files.directory), True, True, note))
    location = find_binarized(data_dir)
    infos.append(DatasetInfo(
        binarized.NAME, None if location is None else str(location), location is not None, True,
        "fixed 0/1 images with train, valid and test splits" if location is not None
        else f"not found; looked in {', '.join(str(d) for d in binarized.candidate_dirs(data_dir))}",
    ))
    mnist = next(info for info in infos if info.name == MNIST.name)
    infos.append(DatasetInfo(
        two_digit.NAME, mnist.location, mnist.present, True,
        f"two digits per {two_digit.CANVAS}x{two_digit.CANVAS} canvas, composed from MNIST",
    ))
    return infos


def _bare_files_note(spec: IdxDataset, data_dir: str | None) -> str:
    owner = bare_files_elsewhere(spec, data_dir)
    if owner is None:
        return ""
    if named_after(owner, Path(data_dir).expanduser()):
        return f" (the IDX files in {data_dir} count as {owner.name}, after the folder's name)"
    return (f" (the IDX files in {data_dir} count as {owner.name}: the folder's name does not say which dataset "
            f"they are; {spec.title} files belong in {Path(data_dir, spec.subdir)})")


def _folder(name: str, data_dir: str | None) -> Path | None:
    """The folder `name` refers to: as given, else relative to data_dir."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if data_dir is not None and not path.is_absolute() and (Path(data_dir).expanduser() / path).is_dir():
        return Path(data_dir).expanduser() / path
    return None


def _check_shape(data: ImageData, image_size: tuple[int, int] | None, channels: int | None) -> None:
    c, h, w = data.shape
    if (image_size is not None and tuple(image_size) != (h, w)) or (channels is not None and channels != c):
        wanted_h, wanted_w = image_size or (h, w)
        raise DataError(
            f"{data.name} images are {c}x{h}x{w} (channels x height x width), not the "
            f"{channels or c}x{wanted_h}x{wanted_w} asked for; set the model's channels/height/width to match"
        )
