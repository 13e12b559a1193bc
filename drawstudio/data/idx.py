"""Reader for the IDX files MNIST and Fashion-MNIST ship in, gzipped or raw.

An IDX file is a 4-byte magic (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the payload. Only the unsigned-byte type
(0x08) is used by these datasets: images are 0x00000803 (N, rows, cols) and labels
0x00000801 (N,). Every malformation becomes a one-line `DataError` naming the file;
the size the header claims is checked before anything is allocated, so hostile or
random bytes cannot make the reader hang or exhaust memory.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from drawstudio.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
# The largest payload we agree to read; real MNIST train images are 47 MB.
MAX_PAYLOAD_BYTES = 10**9

_GZIP_SIGNATURE = b"\x1f\x8b"
_UBYTE_TYPE = 0x08
_CHUNK = 1 << 22


def read_images(path: str | Path) -> np.ndarray:
    """uint8 (N, rows, cols) from an images IDX file."""
    return _read_idx(Path(path), IMAGES_MAGIC, "images")


def read_labels(path: str | Path) -> np.ndarray:
    """uint8 (N,) from a labels IDX file."""
    return _read_idx(Path(path), LABELS_MAGIC, "labels")


def check_pair(images: np.ndarray, labels: np.ndarray, images_path: str | Path, labels_path: str | Path) -> None:
    """The two files of a split must describe the same number of items."""
    if len(images) != len(labels):
        raise DataError(
            f"{images_path}: {len(images):,} images but {labels_path} has {len(labels):,} labels"
        )


def _read_idx(path: Path, magic: int, kind: str) -> np.ndarray:
    try:
        with open(path, "rb") as raw:
            signature = raw.read(2)
            raw.seek(0)
            if signature == _GZIP_SIGNATURE:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _parse(stream, path, magic, kind)
            if path.suffix == ".gz":
                raise DataError(f"{path}: named .gz but is not a gzip file")
            return _parse(raw, path, magic, kind)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected an IDX {kind} file") from None
    except (gzip.BadGzipFile, zlib.error, EOFError) as error:
        # EOFError is how gzip reports a stream cut off before its end marker.
        raise DataError(f"{path}: corrupt gzip data ({str(error) or 'stream ends early'})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


def _parse(stream: BinaryIO, path: Path, magic: int, kind: str) -> np.ndarray:
    header = stream.read(4)
    if len(header) < 4:
        raise DataError(f"{path}: truncated header ({len(header)} of 4 magic bytes)")
    if header[0] != 0 or header[1] != 0 or header[2] != _UBYTE_TYPE:
        raise DataError(
            f"{path}: bad magic 0x{header.hex()}, expected 0x{magic:08x} (IDX {kind} of unsigned bytes)"
        )
    ndim, expected_ndim = header[3], magic & 0xFF
    if ndim != expected_ndim:
        raise DataError(f"{path}: wrong number of dimensions {ndim}, expected {expected_ndim} for IDX {kind}")

    dims_bytes = stream.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DataError(f"{path}: truncated header ({len(dims_bytes)} of {4 * ndim} dimension bytes)")
    dims = struct.unpack(f">{ndim}I", dims_bytes)
    if 0 in dims:
        raise DataError(f"{path}: empty {kind}, dimensions {_show(dims)}")
    size = math.prod(dims)  # Python ints: cannot overflow, unlike a numpy product of uint32s
    if size > MAX_PAYLOAD_BYTES:
        raise DataError(f"{path}: absurd dimensions {_show(dims)} ({size:,} bytes, limit {MAX_PAYLOAD_BYTES:,})")

    payload = _read_exactly(stream, size)
    if len(payload) < size:
        raise DataError(f"{path}: payload is {len(payload):,} bytes, dimensions {_show(dims)} need {size:,}")
    if stream.read(1):
        raise DataError(f"{path}: payload is longer than dimensions {_show(dims)} say ({size:,} bytes)")
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    # Chunked so a header claiming far more than the file holds costs no allocation.
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(_CHUNK, size - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _show(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)
