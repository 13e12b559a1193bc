"""Fetching dataset files over HTTP: mirrors in turn, md5-checked, atomic, with progress.

torchvision's own `download()` extracts the archives and reports progress only to its
built-in bar, so the files are fetched here instead, following torchvision's data:
`mirrors` and `resources` are read from `torchvision.datasets.MNIST` (or
`FashionMNIST`) at call time, so overriding those class attributes redirects the
download, as it does for torchvision itself. The .gz files are kept as they are (the
IDX reader reads them) in the torchvision layout `<root>/MNIST/raw/`.

A file is written to a temporary name beside its destination and renamed into place
only once it is complete and its md5 (when known) matches, so an interrupted or
corrupt download never leaves a file a later load could pick up.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from drawstudio.errors import DataError
from drawstudio.system.atomic import atomic_write

Progress = Callable[[int, int | None, str], None]
"""progress(done_bytes, total_bytes or None when the server does not say, what)"""

DEFAULT_TIMEOUT = 10.0  # seconds without an answer before a mirror is given up
# torchvision's first MNIST mirror; reaching it is what downloading needs.
PROBE_URL = "https://ossci-datasets.s3.amazonaws.com/"
_CHUNK = 1 << 16


class _Failed(Exception):
    """One URL did not yield a good file; the reason goes into the user's message."""


class TqdmProgress:
    """The CLI's default progress: one tqdm bar per file."""

    def __init__(self) -> None:
        self._bar = None
        self._what: str | None = None
        self._done = 0

    def __call__(self, done: int, total: int | None, what: str) -> None:
        from tqdm import tqdm

        if what != self._what:
            self.close()
            self._bar = tqdm(total=total, desc=what, unit="B", unit_scale=True, unit_divisor=1024)
            self._what, self._done = what, 0
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar, self._what = None, None


def online(url: str = PROBE_URL, timeout: float = 2.0) -> bool:
    """Whether `url`'s host accepts a connection within `timeout` seconds (for offering downloads)."""
    parts = urllib.parse.urlsplit(url)
    try:
        address = _resolve(parts.hostname or "", _port(parts), timeout)
        socket.create_connection(address, timeout=timeout).close()
    except (_Failed, OSError):
        return False
    return True


def torchvision_sources(class_name: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(mirrors, resources) of a torchvision dataset class, e.g. "MNIST" or "FashionMNIST"."""
    import torchvision.datasets  # slow to import; only a download needs it

    cls = getattr(torchvision.datasets, class_name)
    return list(cls.mirrors), [(name, md5) for name, md5 in cls.resources]


def download_files(
    title: str,
    files: Sequence[tuple[str, str | None]],
    mirrors: Sequence[str],
    directory: Path,
    *,
    hint: str,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Fetch each (filename, md5 or None) from the first mirror that serves it into `directory`.

    Files already there with the right md5 are kept. Failure raises `DataError` naming
    the URLs, the reasons, `directory` and `hint` (another way to get the files).
    """
    report = progress if progress is not None else TqdmProgress()
    try:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(f"{directory}: cannot create the download folder ({error.strerror or error})") from None
        for filename, md5 in files:
            destination = directory / filename
            # Without an md5, a file there is complete: this module only ever renames finished files.
            if destination.is_file() and (md5 is None or _md5_of(destination) == md5):
                continue
            urls = [base + filename for base in mirrors]
            reasons = []
            for url in urls:
                try:
                    _fetch(url, destination, md5, report, timeout)
                    break
                except _Failed as error:
                    reasons.append(f"{url} ({error})")
            else:
                raise DataError(
                    f"could not download {title} from {', '.join(reasons)}; put the files in {directory} or {hint}"
                )
    finally:
        if isinstance(report, TqdmProgress):
            report.close()


def _fetch(url: str, destination: Path, md5: str | None, progress: Progress, timeout: float) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https"):
        # urlopen's timeout does not cover the DNS lookup, which can stall offline.
        _resolve(parts.hostname or "", _port(parts), timeout)
    request = urllib.request.Request(url, headers={"User-Agent": "drawstudio"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            atomic_write(destination, lambda handle: _copy(response, handle, total, md5, progress, destination.name))
    except urllib.error.HTTPError as error:
        raise _Failed(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _Failed(_reason(error.reason)) from None
    except (OSError, http.client.HTTPException) as error:
        raise _Failed(_reason(error)) from None


def _copy(
    response: BinaryIO, handle: BinaryIO, total: int | None, md5: str | None, progress: Progress, what: str
) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    done = 0
    progress(done, total, what)
    while chunk := response.read(_CHUNK):
        handle.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        progress(done, total, what)
    if total is not None and done != total:
        raise _Failed(f"connection closed after {done:,} of {total:,} bytes")
    if md5 is not None and digest.hexdigest() != md5:
        raise _Failed(f"corrupt download: md5 {digest.hexdigest()}, expected {md5}")


def _resolve(host: str, port: int, timeout: float) -> tuple[str, int]:
    """getaddrinfo with a deadline: it has no timeout of its own, so it runs in a daemon thread."""
    result: list = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][:2])
        except OSError as error:
            result.append(error)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise _Failed(f"looking up {host} timed out after {timeout:g} s")
    if isinstance(result[0], OSError):
        raise _Failed(f"cannot look up {host} ({_reason(result[0])})")
    return result[0]


def _port(parts: urllib.parse.SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _reason(error: object) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
