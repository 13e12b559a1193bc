import gzip
import math
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drawstudio.data import idx
from drawstudio.data.idx import check_pair, read_images, read_labels
from drawstudio.errors import DataError


def header(magic: int, *dims: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)


VALID_IMAGES = header(idx.IMAGES_MAGIC, 3, 2, 2) + bytes(range(12))


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_images_round_trip_raw_and_gzip(tmp_path, write_idx, name):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 27), dtype=np.uint8)
    path = write_idx(tmp_path / name, images)
    loaded = read_images(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)


def test_labels_round_trip(tmp_path, write_idx):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    np.testing.assert_array_equal(read_labels(write_idx(tmp_path / "l.gz", labels)), labels)


def test_gzip_content_is_detected_even_without_gz_suffix(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(gzip.compress(VALID_IMAGES))
    assert read_images(path).shape == (3, 2, 2)


def raises_data_error(path, match, read=read_images):
    with pytest.raises(DataError, match=match) as caught:
        read(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_file(tmp_path):
    raises_data_error(tmp_path / "nope.gz", "file not found")


def test_directory_instead_of_file(tmp_path):
    raises_data_error(tmp_path, "is a directory")


def test_gz_name_but_not_gzip(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(VALID_IMAGES)
    raises_data_error(path, "not a gzip file")


@pytest.mark.parametrize("position", [10, -8], ids=["invalid-deflate-block", "crc-mismatch"])
def test_corrupt_gzip_stream(tmp_path, position):
    compressed = bytearray(gzip.compress(VALID_IMAGES))
    compressed[position] ^= 0xFF
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(compressed))
    raises_data_error(path, "corrupt gzip")


def test_gzip_cut_short(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(VALID_IMAGES)[:-12])
    raises_data_error(path, "corrupt gzip")


def test_payload_larger_than_one_read_chunk_is_read_whole(tmp_path, write_idx):
    images = np.random.default_rng(1).integers(0, 256, (idx._CHUNK // 784 + 3, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(read_images(write_idx(tmp_path / "big-idx3-ubyte", images)), images)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "truncated header"),
        (b"\x00\x00\x08", "truncated header"),
        (header(idx.IMAGES_MAGIC, 3, 2), r"truncated header \(8 of 12 dimension bytes\)$"),
        (header(0x12345678, 3, 2, 2), r"bad magic 0x12345678, expected 0x00000803 \(IDX images of unsigned bytes\)$"),
        (header(0x00000D03, 3, 2, 2), "bad magic"),  # float type, not unsigned bytes
        (header(0x00000802, 3, 4) + bytes(12), "wrong number of dimensions 2, expected 3 for IDX images$"),
        (header(idx.IMAGES_MAGIC, 3, 2, 2) + bytes(11), "payload is 11 bytes.*need 12"),
        (header(idx.IMAGES_MAGIC, 3, 2, 2) + bytes(13), r"payload is longer than dimensions 3x2x2 say \(12 bytes\)$"),
        (header(idx.IMAGES_MAGIC, 0, 28, 28), "empty"),
        (header(idx.IMAGES_MAGIC, 100_000, 100_000, 28), "absurd dimensions"),
    ],
    ids=["empty", "short-magic", "short-dims", "bad-magic", "not-ubyte", "ndim", "short", "long", "zero", "absurd"],
)
def test_malformed_images_file(tmp_path, content, match):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(content)
    raises_data_error(path, match)


def test_labels_file_read_as_images_reports_dimensions(tmp_path, write_idx):
    path = write_idx(tmp_path / "labels", np.zeros(4, np.uint8))
    raises_data_error(path, "wrong number of dimensions 1, expected 3")


def test_absurd_dimensions_rejected_before_allocating(tmp_path, monkeypatch):
    def no_reading(*args):
        raise AssertionError("payload read despite absurd dimensions")

    monkeypatch.setattr(idx, "_read_exactly", no_reading)
    path = tmp_path / "big"
    path.write_bytes(header(idx.IMAGES_MAGIC, 4_000_000, 512, 512))
    raises_data_error(path, "absurd dimensions")


def test_counts_must_match():
    with pytest.raises(DataError, match=r"3 images but labels.gz has 2 labels"):
        check_pair(np.zeros((3, 2, 2)), np.zeros(2), "images.gz", "labels.gz")
    check_pair(np.zeros((2, 2, 2)), np.zeros(2), "images.gz", "labels.gz")


def idx_by_hand(content: bytes, magic: int, gz_name: bool) -> np.ndarray | None:
    """The array a well-formed IDX file of `magic` holds; None when `content` is not one."""
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError, zlib.error):
            return None
    elif gz_name:
        return None
    ndim = magic & 0xFF
    start = 4 + 4 * ndim
    if len(content) < start or content[:4] != struct.pack(">I", magic):
        return None
    dims = struct.unpack(f">{ndim}I", content[4:start])
    if 0 in dims or len(content) != start + math.prod(dims):
        return None
    return np.frombuffer(content[start:], np.uint8).reshape(dims)


def read_only_data_errors(tmp_path, content: bytes, gz_name: bool) -> None:
    """Reading gives exactly what a well-formed file holds, and refuses anything else with a DataError."""
    path = tmp_path / ("f.gz" if gz_name else "f")
    path.write_bytes(content)
    for read, magic in ((read_images, idx.IMAGES_MAGIC), (read_labels, idx.LABELS_MAGIC)):
        expected = idx_by_hand(content, magic, gz_name)
        if expected is None:
            with pytest.raises(DataError, match=str(path)):
                read(path)
        else:
            np.testing.assert_array_equal(read(path), expected)


# print_blob: a failure prints the @reproduce_failure line that replays its random example
FUZZ = settings(max_examples=200, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(content=st.binary(max_size=300), gz_name=st.booleans())
def test_random_bytes_only_raise_data_error(tmp_path, content, gz_name):
    read_only_data_errors(tmp_path, content, gz_name)


@FUZZ
@given(
    seed=st.sampled_from([VALID_IMAGES, header(idx.LABELS_MAGIC, 5) + bytes(5)]),
    edits=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 40),
    compress=st.booleans(),
)
def test_mutated_files_only_raise_data_error(tmp_path, seed, edits, cut, compress):
    content = bytearray(gzip.compress(seed) if compress else seed)
    for position, value in edits:
        if position < len(content):
            content[position] = value
    read_only_data_errors(tmp_path, bytes(content[: len(content) - cut]), compress)
