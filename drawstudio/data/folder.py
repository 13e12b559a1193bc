"""A folder of images as a dataset (the dataset name is the folder's path).

* Files: .png .jpg .jpeg .bmp .gif .webp .tif .tiff .ppm .pgm .pbm .pnm (case-insensitive);
  hidden files and other files are skipped.
* Labels: when the folder has subfolders holding images, each such subfolder (searched
  recursively) is a class, classes = sorted subfolder names, label = index in that list;
  images lying directly in the folder are then left out (noted). Otherwise the images
  directly in the folder are used, unlabelled.
* Pixels: converted to grey (channels=1) or RGB (channels=3); transparent pixels are
  laid over black. `channels=None` takes 1 if the first image (in path order) is grey,
  else 3. Every image is stretched (aspect ratio not kept) to `image_size` (H, W), or
  to the first image's size when None.
* Held-out test slice: the last min(10,000, max(1, N // 10)) images in the order of
  the SHA-1 of their paths relative to the folder: a shuffle that depends only on the
  file names, so it is the same on every machine and library version, and adding a few
  images moves few others between train and test. At least 2 images are needed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.errors import DataError

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm"}
)
MAX_TEST = 10_000
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


def load_folder(
    directory: str | Path, *, image_size: tuple[int, int] | None = None, channels: int | None = None
) -> ImageData:
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of images ({'does not exist' if not root.exists() else 'not a folder'})")
    if channels not in (None, 1, 3):
        raise DataError(f"{root}: channels must be 1 (grey) or 3 (colour), not {channels}")
    try:
        files, labels, classes, notes = _scan(root)
    except OSError as error:
        raise DataError(f"{root}: cannot list the folder ({error.strerror or error})") from None
    if len(files) < 2:
        found = "no images" if not files else "only 1 image"
        raise DataError(f"{root}: {found} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}); need at least 2")

    if channels is None or image_size is None:
        with _open(files[0]) as first:
            channels = channels or (1 if first.mode in _GREY_MODES else 3)
            image_size = image_size or (first.height, first.width)
    height, width = image_size
    if height < 1 or width < 1:
        raise DataError(f"{root}: image size {height}x{width} is impossible")

    order = sorted(range(len(files)), key=lambda i: _name_hash(files[i].relative_to(root)))
    held = min(MAX_TEST, max(1, len(files) // 10))
    # Read train then test into one array, so both splits are views of it: no copies.
    ids = sorted(order[held:]) + sorted(order[:held])
    pixels = np.empty((len(files), channels, height, width), dtype=np.uint8)
    for row, i in enumerate(ids):
        pixels[row] = _read(files[i], channels, (height, width)).reshape(height, width, channels).transpose(2, 0, 1)
    data = torch.from_numpy(pixels)
    targets = None if labels is None else torch.tensor([labels[i] for i in ids], dtype=torch.int64)
    cut = len(files) - held

    def split(part: slice) -> TensorImageSet:
        return TensorImageSet(data[part], None if targets is None else targets[part])

    notes.append(f"test = {held:,} of {len(files):,} images, chosen by the hash of their file names")
    return ImageData(
        name=str(directory), train=split(slice(0, cut)), test=split(slice(cut, None)),
        classes=classes, source=str(root), notes=notes,
    )


def _scan(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None, list[str]]:
    """(files in path order, labels or None, class names or None, notes)."""
    top = sorted(p for p in root.iterdir() if _is_image(p))
    class_files = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = sorted(p for p in sub.rglob("*") if _is_image(p) and not _hidden(p.relative_to(sub)))
        if found:
            class_files[sub.name] = found
    if not class_files:
        return top, None, None, []
    classes = list(class_files)
    files = [p for name in classes for p in class_files[name]]
    labels = [label for label, name in enumerate(classes) for _ in class_files[name]]
    left_out = f"left out {len(top):,} image(s) lying directly in {root}: class subfolders define the dataset"
    return files, labels, classes, [left_out] if top else []


def _name_hash(relative: Path) -> bytes:
    return hashlib.sha1(relative.as_posix().encode()).digest()


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{path}: cannot read image ({error})") from None


def _read(path: Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    mode = "L" if channels == 1 else "RGB"
    try:
        with _open(path) as image:
            # JPEG can decode straight at a reduced scale, far faster for big photos.
            image.draft(mode, (width, height))
            if image.mode.startswith("I"):
                # 16-bit grey: Pillow's convert() would clip it to 255 instead of scaling it.
                wide = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)
                image = Image.fromarray((wide >> 8).astype(np.uint8), "L")
            if image.mode == "P":
                image = image.convert("RGBA")
            if image.mode in ("RGBA", "LA", "PA"):
                background = Image.new("RGBA", image.size, (0, 0, 0, 255))
                image = Image.alpha_composite(background, image.convert("RGBA"))
            image = image.convert(mode)
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise DataError(f"{path}: cannot read image ({error})") from None
