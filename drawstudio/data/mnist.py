"""MNIST and Fashion-MNIST from their IDX files.

Where the files are looked for (`train-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`
etc., each raw or .gz):

* with a data_dir: the folder itself, its dataset subfolder (`mnist/` or
  `fashion-mnist/`) and the torchvision layout (`MNIST/raw/`, `FashionMNIST/raw/`);
* without: the same subfolders (not the folder itself, whose plain IDX names could be
  either dataset) of `$DRAWSTUDIO_DATA`, then of `~/.cache/drawstudio/data`; for
  Fashion-MNIST also `/usr/share/datasets/fashion-mnist` (Debian's
  dataset-fashion-mnist package), so it is found without configuration.

The first folder holding both splits wins; failing that, the first holding one split.

Which dataset a data_dir's own IDX files are: their names (`t10k-images-idx3-ubyte`)
are the same for MNIST and Fashion-MNIST, so only the folder can tell. Loading a named
dataset takes them as that dataset's files (the user said which it is). Listing what is
present (`find_idx_files(..., named=False)`, the studio's dataset picker) attributes them
to the dataset the folder is named after (`mnist/`, `fashion-mnist/`, `MNIST/raw`,
`FashionMNIST/raw`, any case or punctuation), and otherwise to MNIST alone, never to both.

Held-out slice when only one split is present (deterministic, recorded in
`ImageData.notes`): the test set is the last `min(K, N // 6)` images (at least one) of
the split that is there and the train set is the rest, with K = 1,000 when only the
t10k files exist (the canonical 10k test split gives train = first 9,000, test = last
1,000) and K = 10,000 when only the train files exist (60k gives the classic 50k/10k).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.data.download import Progress, download_files, torchvision_sources
from drawstudio.data.idx import check_pair, read_images, read_labels
from drawstudio.data.locations import default_roots, describe_miss, download_root
from drawstudio.errors import DataError


SIDE = 28  # MNIST and Fashion-MNIST images are 28×28


@dataclass(frozen=True)
class IdxDataset:
    name: str  # as in TrainConfig.dataset
    title: str  # for messages
    torchvision_class: str  # also the folder of torchvision's layout <root>/<class>/raw
    subdir: str  # a dataset folder inside a data root
    system_dirs: tuple[Path, ...]  # searched after the roots, no configuration needed
    classes: tuple[str, ...]
    hint: str  # another way to get the files, for the download error


MNIST = IdxDataset(
    name="mnist",
    title="MNIST",
    torchvision_class="MNIST",
    subdir="mnist",
    system_dirs=(),
    classes=tuple(str(digit) for digit in range(10)),
    hint="set DRAWSTUDIO_DATA to a folder that holds them",
)
FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    torchvision_class="FashionMNIST",
    subdir="fashion-mnist",
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    hint="install the Debian package dataset-fashion-mnist",
)
IDX_DATASETS = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}

_SPLITS = {"train": "train", "test": "t10k"}  # our split name -> file prefix
_HELD_OUT_CAP = {"train": 10_000, "test": 1_000}  # keyed by the one split present


@dataclass(frozen=True)
class IdxFiles:
    """The (images, labels) file pairs found in one folder."""

    directory: Path
    train: tuple[Path, Path] | None
    test: tuple[Path, Path] | None

    @property
    def complete(self) -> bool:
        return self.train is not None and self.test is not None


def candidate_dirs(spec: IdxDataset, data_dir: str | Path | None) -> list[Path]:
    """Every folder searched, in order."""
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        return [base, base / spec.subdir, base / spec.torchvision_class / "raw"]
    dirs = []
    for root in default_roots():
        dirs += [root / spec.subdir, root / spec.torchvision_class / "raw"]
    return dirs + list(spec.system_dirs)


def named_after(spec: IdxDataset, directory: Path) -> bool:
    """Whether `directory` (or, for torchvision's `<class>/raw`, its parent) is named after `spec`."""
    folder = directory.parent if directory.name == "raw" else directory
    return _plain(folder.name) in {_plain(spec.name), _plain(spec.subdir), _plain(spec.torchvision_class)}


def owner_of_bare_files(directory: Path) -> IdxDataset:
    """The dataset a folder's own IDX files are listed as: the one it is named after, else MNIST."""
    return next((spec for spec in IDX_DATASETS.values() if named_after(spec, directory)), MNIST)


def listed_dirs(spec: IdxDataset, data_dir: str | Path | None) -> list[Path]:
    """`candidate_dirs` without a data_dir whose own files `owner_of_bare_files` gives to another dataset."""
    dirs = candidate_dirs(spec, data_dir)
    if data_dir is not None and owner_of_bare_files(dirs[0]) is not spec:
        dirs = dirs[1:]
    return dirs


def bare_files_elsewhere(spec: IdxDataset, data_dir: str | Path | None) -> IdxDataset | None:
    """The dataset that data_dir's own IDX files are listed as when that is not `spec`, else None."""
    if data_dir is None:
        return None
    base = candidate_dirs(spec, data_dir)[0]
    owner = owner_of_bare_files(base)
    return owner if owner is not spec and _files_in(base) is not None else None


def find_idx_files(spec: IdxDataset, data_dir: str | Path | None = None, *, named: bool = True) -> IdxFiles | None:
    """The best folder's files (both splits beat one), or None; reads no file. `named`: the
    user asked for this dataset by name, so a data_dir's own files count as its files; False
    (listing what is present) searches `listed_dirs` only."""
    dirs = candidate_dirs(spec, data_dir) if named else listed_dirs(spec, data_dir)
    found = [files for files in map(_files_in, dirs) if files is not None]
    complete = [files for files in found if files.complete]
    return (complete or found or [None])[0]


def download_dir(spec: IdxDataset, data_dir: str | Path | None) -> Path:
    """Where a download puts the files: torchvision's layout under the data root."""
    return download_root(data_dir) / spec.torchvision_class / "raw"


def download_idx(
    spec: IdxDataset,
    data_dir: str | Path | None = None,
    *,
    progress: Progress | None = None,
    mirrors: list[str] | None = None,
    resources: list[tuple[str, str]] | None = None,
) -> Path:
    """Fetch the four .gz files (torchvision's mirrors and md5s unless given); returns their folder."""
    if mirrors is None or resources is None:
        default_mirrors, default_resources = torchvision_sources(spec.torchvision_class)
        mirrors = default_mirrors if mirrors is None else mirrors
        resources = default_resources if resources is None else resources
    directory = download_dir(spec, data_dir)
    download_files(spec.title, resources, mirrors, directory, hint=spec.hint, progress=progress)
    return directory


def load_idx_dataset(
    spec: IdxDataset,
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    progress: Progress | None = None,
) -> ImageData:
    """Load from the best folder found; with `download`, first fetch a full copy unless one is found."""
    files = find_idx_files(spec, data_dir)
    if download and (files is None or not files.complete):
        files = _files_in(download_idx(spec, data_dir, progress=progress))
    if files is None:
        looked = "; ".join(describe_miss(d, spec.title) for d in candidate_dirs(spec, data_dir))
        raise DataError(f"{spec.title} not found: looked in {looked}; put the IDX files in one of these or download")

    splits = {name: _read_split(spec, *pair) for name, pair in (("train", files.train), ("test", files.test)) if pair}
    notes = []
    if len(splits) == 2:
        (train_x, train_y), (test_x, test_y) = splits["train"], splits["test"]
        if train_x.shape[1:] != test_x.shape[1:]:
            raise DataError(
                f"{files.directory}: train images are {_size(train_x)} but test images are {_size(test_x)}"
            )
    else:
        [(present, (images, labels))] = splits.items()
        held = _held_out(len(images), _HELD_OUT_CAP[present], files.directory, spec)
        train_x, test_x = images[:-held], images[-held:]
        train_y, test_y = labels[:-held], labels[-held:]
        prefix = _SPLITS[present]
        notes.append(
            f"only the {prefix} files were found: train = first {len(train_x):,}, "
            f"test = last {held:,} of {prefix}"
        )
    return ImageData(
        name=spec.name,
        train=TensorImageSet(train_x, train_y),
        test=TensorImageSet(test_x, test_y),
        classes=list(spec.classes),
        source=str(files.directory),
        notes=notes,
    )


def _plain(name: str) -> str:
    """'FashionMNIST', 'fashion-mnist' and 'Fashion_MNIST' all become 'fashionmnist'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _files_in(directory: Path) -> IdxFiles | None:
    pairs = {name: _pair_in(directory, prefix) for name, prefix in _SPLITS.items()}
    if not any(pairs.values()):
        return None
    return IdxFiles(directory, pairs["train"], pairs["test"])


def _pair_in(directory: Path, prefix: str) -> tuple[Path, Path] | None:
    images = _first_file(directory, prefix, "images", "idx3")
    labels = _first_file(directory, prefix, "labels", "idx1")
    return (images, labels) if images and labels else None


def _first_file(directory: Path, prefix: str, kind: str, idx: str) -> Path | None:
    # The uncompressed name first: it reads faster, and torchvision leaves both.
    for stem in (f"{prefix}-{kind}-{idx}-ubyte", f"{prefix}-{kind}.{idx}-ubyte"):
        for name in (stem, stem + ".gz"):
            path = directory / name
            if path.is_file():
                return path
    return None


def _read_split(spec: IdxDataset, images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_images(images_path), read_labels(labels_path)
    check_pair(images, labels, images_path, labels_path)
    if labels.max() >= len(spec.classes):
        raise DataError(f"{labels_path}: label {labels.max()} is not a {spec.title} class (0..{len(spec.classes) - 1})")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _held_out(n: int, cap: int, directory: Path, spec: IdxDataset) -> int:
    if n < 2:
        raise DataError(f"{directory}: only {n} {spec.title} image, need at least 2 to hold one out for testing")
    return max(1, min(cap, n // 6))


def _size(images: torch.Tensor) -> str:
    return "x".join(str(d) for d in images.shape[-2:])
