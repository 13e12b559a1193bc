import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

# CI clones the repo with the read-only shared/ folder beside it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def no_default_data(tmp_path, monkeypatch) -> Path:
    """Empty default data roots: no $DRAWSTUDIO_DATA, HOME in tmp_path (returned)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DRAWSTUDIO_DATA", raising=False)
    return home


def _write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file of unsigned bytes for `array` (gzipped when the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
    return path


@pytest.fixture
def write_idx():
    return _write_idx


@pytest.fixture
def write_mnist_split():
    """write(directory, prefix, n, gz=True) -> (images (n,28,28), labels (n,)); image i has value i % 256."""

    def write(directory: Path, prefix: str, n: int, gz: bool = True):
        suffix = ".gz" if gz else ""
        images = np.broadcast_to((np.arange(n) % 256).astype(np.uint8)[:, None, None], (n, 28, 28))
        labels = (np.arange(n) % 10).astype(np.uint8)
        _write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
        _write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        return images, labels

    return write
