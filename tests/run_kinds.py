"""Tiny runs of every kind the project trains, on tiny synthetic datasets built here: what the
command matrix (tests/test_command_matrix.py) and the studio's walk over the same runs share.
The fixtures `run_kind_data` and `run_kind_template` (tests/conftest.py) build them once per session."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TINY = ("--T", "2", "--hidden", "8", "--z", "4", "--batch-size", "8", "--eval-every", "0", "--steps", "2", "--quiet")
COLOUR = ("--channels", "3", "--height", "8", "--width", "8", "--likelihood", "logistic", "--binarize", "none")


@dataclass(frozen=True)
class Kind:
    flags: tuple[str, ...]  # what `train` needs besides TINY; {data} is the synthetic data root
    conditional: bool = False
    labelled: bool = True
    test_images: int = 20
    valid_images: int = 0


KINDS = {
    "unconditional": Kind(("--dataset", "mnist", "--data-dir", "{data}/mnist")),
    "conditional": Kind(("--dataset", "mnist", "--data-dir", "{data}/mnist", "--conditional"), conditional=True),
    "no-attention": Kind(("--dataset", "mnist", "--data-dir", "{data}/mnist", "--no-attention")),
    "colour-classes": Kind(("--dataset", "{data}/colour-classes", "--conditional", *COLOUR), conditional=True,
                           test_images=3),
    "colour-flat": Kind(("--dataset", "{data}/colour-flat", *COLOUR), labelled=False, test_images=3),
    "two-digit": Kind(("--dataset", "two-digit-mnist", "--data-dir", "{data}/mnist", "--height", "60", "--width", "60"),
                      labelled=False),
    "binarized": Kind(("--dataset", "binarized-mnist", "--data-dir", "{data}/binarized"), labelled=False,
                      test_images=10, valid_images=10),
    "one-split": Kind(("--dataset", "mnist", "--data-dir", "{data}/t10k-only"), test_images=10),
}


def _idx(path: Path, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.tobytes(), mtime=0))


def _mnist_split(directory: Path, prefix: str, n: int, rng: np.random.Generator) -> None:
    _idx(directory / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
    _idx(directory / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def _colour_images(directory: Path, classes: bool, rng: np.random.Generator) -> None:
    for i in range(30):
        path = directory / (f"class{i % 2}" if classes else "") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)).save(path)


def build_datasets(root: Path) -> Path:
    """MNIST-like IDX (60 train, 20 test), t10k files only (60: 10 held out), binarized
    MNIST (40/10/10), colour PNG folders with and without class subfolders, all under `root`."""
    rng = np.random.default_rng(0)
    _mnist_split(root / "mnist", "train", 60, rng)
    _mnist_split(root / "mnist", "t10k", 20, rng)
    _mnist_split(root / "t10k-only", "t10k", 60, rng)
    (root / "binarized").mkdir()
    np.savez(root / "binarized" / "mnist_binarized.npz",
             **{f"X_{split}": (rng.random((n, 784)) > 0.5).astype(np.float32)
                for split, n in (("train", 40), ("valid", 10), ("test", 10))})
    _colour_images(root / "colour-classes", True, rng)
    _colour_images(root / "colour-flat", False, rng)
    return root


def train_argv(kind: str, data_root: Path, run: Path) -> list[str]:
    return ["train", "--run", str(run), *(f.format(data=data_root) for f in KINDS[kind].flags), *TINY]
