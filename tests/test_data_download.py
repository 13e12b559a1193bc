import functools
import hashlib
import http.server
import socket
import threading
import time

import numpy as np
import pytest

from drawstudio.data import binarized, load_dataset, online
from drawstudio.data.binarized import AMAT_NAMES, download_binarized, load_binarized
from drawstudio.data.download import DEFAULT_TIMEOUT
from drawstudio.data.mnist import MNIST, download_idx, load_idx_dataset
from drawstudio.errors import DataError

# What "fails fast" means on a loaded 2-core machine: far below a hang (a missing timeout waits for
# minutes), far above a refused connection's milliseconds, so the load cannot fail the test.
SLOW_MACHINE_SECONDS = 30.0
FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"]


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves its directory; under /short/ it promises more bytes than it sends, then hangs up."""

    requests: list[str]

    def do_GET(self):
        self.requests.append(self.path)
        if self.path.startswith("/short/"):
            body = (self.directory_path / self.path.removeprefix("/short/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder, list of requested paths) of an HTTP server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    requests = []
    handler = functools.partial(
        type("H", (Handler,), {"requests": requests, "directory_path": served}), directory=str(served)
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served, requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mnist_files(server, write_mnist_split):
    """Synthetic MNIST .gz files on the server; returns torchvision-style resources [(name, md5)]."""
    _, served, _ = server
    write_mnist_split(served, "train", 24)
    write_mnist_split(served, "t10k", 12)
    return [(name, hashlib.md5((served / name).read_bytes()).hexdigest()) for name in FILES]


@pytest.fixture
def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, done, total, what):
        self.calls.append((done, total, what))


def test_download_from_local_mirror_reports_progress_and_loads(tmp_path, server, mnist_files):
    base, served, _ = server
    progress = Recorder()
    directory = download_idx(MNIST, tmp_path / "data", progress=progress, mirrors=[base], resources=mnist_files)
    assert directory == tmp_path / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in directory.iterdir()) == sorted(FILES)
    for name in FILES:
        size = (served / name).stat().st_size
        calls = [c for c in progress.calls if c[2] == name]
        assert calls[0] == (0, size, name) and calls[-1] == (size, size, name)
    data = load_idx_dataset(MNIST, tmp_path / "data")
    assert (len(data.train), len(data.test)) == (24, 12)


def test_torchvision_class_attributes_redirect_the_download(tmp_path, server, mnist_files, monkeypatch):
    import torchvision.datasets

    base, _, requests = server
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/nothing/", base])
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", mnist_files)
    data = load_dataset("mnist", str(tmp_path), download=True, progress=Recorder())
    assert (len(data.train), len(data.test)) == (24, 12)
    assert sorted(requests) == sorted("/" + name for name in FILES)


def test_download_replaces_a_partial_copy(tmp_path, server, mnist_files, write_mnist_split, monkeypatch):
    import torchvision.datasets

    base, _, _ = server
    write_mnist_split(tmp_path, "t10k", 6)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [base])
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", mnist_files)
    data = load_idx_dataset(MNIST, tmp_path, download=True, progress=Recorder())
    assert data.source == str(tmp_path / "MNIST" / "raw") and data.notes == []


def test_files_already_there_with_the_right_md5_are_not_fetched_again(tmp_path, server, mnist_files):
    base, _, requests = server
    download_idx(MNIST, tmp_path, progress=Recorder(), mirrors=[base], resources=mnist_files)
    download_idx(MNIST, tmp_path, progress=Recorder(), mirrors=[base], resources=mnist_files)
    assert len(requests) == len(FILES)


def test_md5_mismatch_rejected_and_nothing_left_behind(tmp_path, server, mnist_files):
    base, _, _ = server
    wrong = [(name, "0" * 32) for name, _ in mnist_files]
    with pytest.raises(DataError, match=r"corrupt download: md5 .* expected 0{32}"):
        download_idx(MNIST, tmp_path, progress=Recorder(), mirrors=[base], resources=wrong)
    assert list((tmp_path / "MNIST" / "raw").iterdir()) == []


def test_connection_closed_early_rejected_and_nothing_left_behind(tmp_path, server, mnist_files):
    base, _, _ = server
    unchecked = [(name, None) for name, _ in mnist_files]
    with pytest.raises(DataError, match="connection closed after"):
        download_idx(MNIST, tmp_path, progress=Recorder(), mirrors=[base + "short/"], resources=unchecked)
    assert list((tmp_path / "MNIST" / "raw").iterdir()) == []


def test_http_error_falls_back_to_the_next_mirror(tmp_path, server, mnist_files):
    base, _, requests = server
    download_idx(MNIST, tmp_path, progress=Recorder(), mirrors=[base + "missing/", base], resources=mnist_files)
    assert requests[:2] == ["/missing/" + FILES[0], "/" + FILES[0]]


def test_no_network_fails_fast_with_urls_reason_and_folder(tmp_path, closed_port_url, mnist_files):
    start = time.monotonic()
    with pytest.raises(DataError) as caught:
        download_idx(MNIST, tmp_path, progress=Recorder(), mirrors=[closed_port_url], resources=mnist_files)
    assert time.monotonic() - start < SLOW_MACHINE_SECONDS  # refused at once: no retries, no sleeps
    message = str(caught.value)
    assert message.startswith(f"could not download MNIST from {closed_port_url}{FILES[0]} (")
    assert "refused" in message.lower()
    assert f"put the files in {tmp_path / 'MNIST' / 'raw'}" in message and "\n" not in message


def test_unresolvable_host_fails_within_the_timeout(tmp_path, mnist_files):
    start = time.monotonic()
    with pytest.raises(DataError, match=r"could not download MNIST from http://no-such-host.invalid/"):
        download_idx(MNIST, tmp_path, progress=Recorder(), mirrors=["http://no-such-host.invalid/"],
                     resources=mnist_files)
    # a DNS lookup may stall until the timeout, but not for many of them
    assert time.monotonic() - start < DEFAULT_TIMEOUT + SLOW_MACHINE_SECONDS


def test_default_progress_is_a_tqdm_bar(tmp_path, server, mnist_files, capsys):
    base, _, _ = server
    download_idx(MNIST, tmp_path, mirrors=[base], resources=mnist_files[:1])
    assert FILES[0] in capsys.readouterr().err


def test_online_is_true_for_a_listening_server_and_false_for_a_closed_port(server, closed_port_url):
    base, _, _ = server
    start = time.monotonic()
    assert online(base) is True
    assert online(closed_port_url, timeout=1) is False
    assert time.monotonic() - start < SLOW_MACHINE_SECONDS


def test_binarized_amat_download_and_load(tmp_path, server):
    base, served, _ = server
    rng = np.random.default_rng(0)
    sizes = {"train": 5, "valid": 3, "test": 2}
    for split, name in AMAT_NAMES.items():
        rows = rng.integers(0, 2, (sizes[split], 784))
        (served / name).write_text("".join(" ".join(map(str, row)) + "\n" for row in rows))
    progress = Recorder()
    directory = download_binarized(tmp_path, progress=progress, base_url=base)
    assert directory == tmp_path / "binarized_mnist"
    assert {c[2] for c in progress.calls} == set(AMAT_NAMES.values())
    data = load_binarized(tmp_path)
    assert (len(data.train), len(data.valid), len(data.test)) == (5, 3, 2) and data.binary


def test_binarized_download_failure_names_url_and_folder(tmp_path, closed_port_url, monkeypatch):
    monkeypatch.setattr(binarized, "BINARIZED_MNIST_URL", closed_port_url)
    with pytest.raises(DataError) as caught:
        load_binarized(tmp_path, download=True, progress=Recorder())
    message = str(caught.value)
    assert message.startswith(f"could not download binarized MNIST from {closed_port_url}binarized_mnist_train.amat")
    assert f"put the files in {tmp_path / 'binarized_mnist'}" in message
