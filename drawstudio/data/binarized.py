"""Binarized MNIST ("binarized-mnist"): the fixed 0/1 MNIST of Larochelle & Murray (2011).

Read from `mnist_binarized.npz` (arrays X_train, X_valid, X_test of shape (N, 784))
or from the original text files `binarized_mnist_{train,valid,test}.amat` (784
space-separated 0/1 per line), in a data_dir or its `binarized_mnist/` subfolder;
without a data_dir, in `$DRAWSTUDIO_DATA` and `~/.cache/drawstudio/data` (each itself
and its `binarized_mnist/`). The .npz wins when a folder has both. Its three splits
(50k/10k/10k) are used as they are: no held-out slice, the valid split is kept for
model selection, and the images are stored as 0/255 with `binary` set so they are
never re-binarised.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.data.download import Progress, download_files
from drawstudio.data.locations import default_roots, describe_miss, download_root
from drawstudio.errors import DataError

NAME = "binarized-mnist"
NPZ_NAME = "mnist_binarized.npz"
SPLITS = ("train", "valid", "test")
NPZ_KEYS = {split: f"X_{split}" for split in SPLITS}
AMAT_NAMES = {split: f"binarized_mnist_{split}.amat" for split in SPLITS}
SUBDIR = "binarized_mnist"
BINARIZED_MNIST_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
PIXELS = 784
SIDE = 28

_IS_SPACE = np.zeros(256, dtype=bool)  # lookup table: byte -> is whitespace
_IS_SPACE[[ord(c) for c in " \t\r\n\v\f"]] = True
_BLOCK_LINES = 256
_MAX_LINE_BYTES = 1 << 16  # a line of 784 values is about 1.6 KB


def candidate_dirs(data_dir: str | Path | None) -> list[Path]:
    """Every folder searched, in order (the file names are unambiguous, so roots are searched too)."""
    roots = [Path(data_dir).expanduser()] if data_dir is not None else default_roots()
    return [d for root in roots for d in (root, root / SUBDIR)]


def find_binarized(data_dir: str | Path | None = None) -> Path | None:
    """The .npz file, or the folder holding all three .amat files, first found; reads no file."""
    for directory in candidate_dirs(data_dir):
        if (directory / NPZ_NAME).is_file():
            return directory / NPZ_NAME
        if all((directory / name).is_file() for name in AMAT_NAMES.values()):
            return directory
    return None


def download_binarized(
    data_dir: str | Path | None = None, *, progress: Progress | None = None, base_url: str | None = None
) -> Path:
    """Fetch the three .amat files (from BINARIZED_MNIST_URL unless given) into `<data root>/binarized_mnist/`."""
    directory = download_root(data_dir) / SUBDIR
    files = [(name, None) for name in AMAT_NAMES.values()]  # no published checksums
    download_files(
        "binarized MNIST", files, [base_url or BINARIZED_MNIST_URL], directory,
        hint=f"put {NPZ_NAME} there", progress=progress,
    )
    return directory


def load_binarized(
    data_dir: str | Path | None = None, *, download: bool = False, progress: Progress | None = None
) -> ImageData:
    location = find_binarized(data_dir)
    if location is None and download:
        location = download_binarized(data_dir, progress=progress)
    if location is None:
        looked = "; ".join(describe_miss(d, "binarized MNIST") for d in candidate_dirs(data_dir))
        raise DataError(f"binarized MNIST not found ({NPZ_NAME} or the three .amat files): looked in {looked}")
    if location.suffix == ".npz":
        arrays = read_npz(location)
    else:
        arrays = {split: read_amat(location / name) for split, name in AMAT_NAMES.items()}
    sets = {split: TensorImageSet(torch.from_numpy(a).view(-1, 1, SIDE, SIDE)) for split, a in arrays.items()}
    return ImageData(
        name=NAME, train=sets["train"], test=sets["test"], valid=sets["valid"], binary=True, source=str(location)
    )


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """{split: uint8 (N, 784) in {0, 255}} from an .npz holding X_train, X_valid, X_test."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz archive ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single array, expected an .npz archive with {', '.join(NPZ_KEYS.values())}")
    with archive:
        missing = [key for key in NPZ_KEYS.values() if key not in archive.files]
        if missing:
            raise DataError(f"{path}: missing {', '.join(missing)} (has {', '.join(archive.files) or 'nothing'})")
        arrays = {}
        for split, key in NPZ_KEYS.items():
            try:
                array = archive[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise DataError(f"{path}: cannot read {key} ({error})") from None
            arrays[split] = _to_binary_uint8(array, path, key)
    return arrays


def read_amat(path: Path) -> np.ndarray:
    """uint8 (N, 784) in {0, 255} from a text file of 784 single-digit 0/1 values per line."""
    try:
        text = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    line_starts = np.concatenate(([0], np.flatnonzero(text == ord("\n")) + 1))
    line_ends = np.append(line_starts[1:], len(text))
    longest = int(np.argmax(line_ends - line_starts))
    if line_ends[longest] - line_starts[longest] > _MAX_LINE_BYTES:
        raise DataError(f"{path}: line {longest + 1} is {line_ends[longest] - line_starts[longest]:,} bytes long, "
                        f"not a line of {PIXELS} values 0/1")
    # Vectorised over blocks of lines: a 50,000-line file holds 39 million values, far
    # too many for str.split, and whole-file index arrays would take gigabytes.
    blocks = [
        _parse_lines(text[line_starts[first]:line_ends[min(first + _BLOCK_LINES, len(line_starts)) - 1]],
                     line_starts[first:first + _BLOCK_LINES] - line_starts[first], first, path)
        for first in range(0, len(line_starts), _BLOCK_LINES)
    ]
    images = np.concatenate(blocks)
    if not len(images):
        raise DataError(f"{path}: no images (expected lines of {PIXELS} values 0/1)")
    return images


def _parse_lines(text: np.ndarray, line_starts: np.ndarray, first_line: int, path: Path) -> np.ndarray:
    """uint8 (lines, 784) in {0, 255} from whole lines of text; `first_line` (0-based) is for messages."""
    space = _IS_SPACE[text]
    filled = ~space
    starts = filled.copy()  # first byte of every value
    starts[1:] &= space[:-1]

    def problem(position: int) -> DataError:
        line = first_line + int(np.searchsorted(line_starts, position, side="right"))
        return DataError(f"{path}: line {line}: value {_token(text, space, position)!r}, expected 0 or 1")

    if np.count_nonzero(starts) != np.count_nonzero(filled):
        inside = int(np.flatnonzero(filled[1:] & filled[:-1])[0]) + 1  # a byte continuing a value
        raise problem(int(np.flatnonzero(starts[: inside + 1])[-1]))
    digits = text[filled]
    bad = np.flatnonzero((digits != ord("0")) & (digits != ord("1")))
    if len(bad):
        raise problem(int(np.flatnonzero(filled)[bad[0]]))
    counts = np.zeros(len(line_starts), dtype=np.int64)
    nonempty = line_starts < len(text)  # only the empty line after a final newline is not
    if nonempty.any():
        counts[nonempty] = np.add.reduceat(starts, line_starts[nonempty], dtype=np.int64)
    wrong = np.flatnonzero((counts != 0) & (counts != PIXELS))  # blank lines are allowed
    if len(wrong):
        raise DataError(f"{path}: line {first_line + wrong[0] + 1} has {counts[wrong[0]]} values, expected {PIXELS}")
    return ((digits == ord("1")).view(np.uint8) * np.uint8(255)).reshape(-1, PIXELS)


def _to_binary_uint8(array: np.ndarray, path: Path, key: str) -> np.ndarray:
    if array.ndim != 2 or array.shape[1] != PIXELS or array.shape[0] == 0:
        raise DataError(f"{path}: {key} has shape {array.shape}, expected (N, {PIXELS})")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(f"{path}: {key} holds {array.dtype} values, expected numbers 0 and 1")
    bad = (array != 0) & (array != 1)
    if bad.any():
        raise DataError(f"{path}: values other than 0 and 1 in {key} (e.g. {array[bad][0]})")
    return (array != 0).view(np.uint8) * np.uint8(255)


def _token(text: np.ndarray, space: np.ndarray, start: int) -> str:
    following = np.flatnonzero(space[start:])
    end = start + (following[0] if len(following) else len(text) - start)
    token = text[start:min(end, start + 20)].tobytes().decode("latin-1")
    return token if end - start <= 20 else token + "..."
