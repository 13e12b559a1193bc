import gzip
import hashlib
import os
import shutil
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from required_files import require_files

# The studio tests drive real Qt widgets without a display; Qt reads this when it is first imported.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# CI clones the repo with the read-only shared/ folder beside it; a scratch copy of the repo
# (scripts/mutation-test) names it in DRAWSTUDIO_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("DRAWSTUDIO_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")
SHARED_FILES = ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
                "binarized_mnist/mnist_binarized.npz")


def require_shared_data() -> Path:
    return require_files(SHARED_DATA, SHARED_FILES, "shared data file")


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; a missing file fails the test under CI=true and skips it elsewhere."""
    return require_shared_data()


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


# ---- studio ------------------------------------------------------------------------------

STUDIO_THREAD_PREFIX = "drawstudio-"  # names of the training, follower and setup threads


@pytest.fixture
def no_thread_left():
    """Fail the test if a studio thread (training, follower, ...) still runs after it."""
    before = {t for t in threading.enumerate() if t.name.startswith(STUDIO_THREAD_PREFIX)}
    yield
    deadline = time.monotonic() + 5.0
    while True:
        left = [t for t in threading.enumerate()
                if t.name.startswith(STUDIO_THREAD_PREFIX) and t.is_alive() and t not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"threads left running: {[t.name for t in left]}"


@pytest.fixture
def mnist_dir(shared_data) -> Path:
    return shared_data / "mnist"


@pytest.fixture
def tiny_config(mnist_dir):
    """A model small enough that the studio tests train dozens of steps a second."""
    from drawstudio.config import ModelConfig, RunConfig, TrainConfig

    return RunConfig(
        model=ModelConfig(T=4, read_n=2, write_n=3, enc_size=32, dec_size=32, z_size=8),
        train=TrainConfig(dataset="mnist", data_dir=str(mnist_dir), batch_size=16, steps=100_000, eval_every=0,
                          eval_images=200, autosave_seconds=3600),
    )


@pytest.fixture
def studio(qtbot, tmp_path, no_thread_left):
    """The real main window, with its own settings file and fast snapshots and polling."""
    from PySide6.QtCore import QSettings

    from drawstudio.studio.app import configure_pyqtgraph
    from drawstudio.studio.main_window import MainWindow

    configure_pyqtgraph()
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                        snapshot_seconds=0.2, follow_poll_seconds=0.2)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


# ---- reliability tests: a tiny model on the shared MNIST test split, driven through the CLI ----

TINY_MODEL_FLAGS = ("--T", "4", "--hidden", "32", "--z", "8", "--batch-size", "16", "--eval-every", "0")


def _tiny_train_argv(data_dir: Path, run: Path, *extra: str) -> list[str]:
    return ["train", "--run", str(run), "--dataset", "mnist", "--data-dir", str(data_dir / "mnist"),
            *TINY_MODEL_FLAGS, "--quiet", *extra]


@pytest.fixture
def tiny_train_argv(shared_data):
    """argv(run, *extra) for `drawstudio train` of the tiny model; the same argv resumes the run."""
    return lambda run, *extra: _tiny_train_argv(shared_data, run, *extra)


@pytest.fixture(scope="session")
def tiny_run_template(tmp_path_factory) -> Path:
    """A 3-step run of the tiny model (config.json, metrics.jsonl, checkpoints/step-000000003.pt);
    built once, never modified: tests work on copies (`tiny_run`)."""
    require_shared_data()
    from drawstudio.cli.main import main

    run = tmp_path_factory.mktemp("tiny") / "run"
    assert main(_tiny_train_argv(SHARED_DATA, run, "--steps", "3")) == 0
    return run


@pytest.fixture
def tiny_run(tiny_run_template, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_run_template, tmp_path / "run"))


@pytest.fixture
def run_cli(capsys):
    """run(*argv) -> (exit code, stderr) of `drawstudio ARGV`, run in this process (a Python
    process per call would cost seconds of torch import; an escaping exception fails the test
    just as a traceback would)."""
    from drawstudio.cli.main import main

    def run(*argv: str | Path) -> tuple[int, str]:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        return code, capsys.readouterr().err

    return run


def _error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drawstudio: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def error_line():
    """error_line(stderr) -> the one line `drawstudio: error: ...` the CLI printed; fails on
    anything more (a traceback, a warning, a second line)."""
    return _error_line


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file below `root` ({} when it does not exist)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def digest():
    return tree_digest


# ---- one tiny run of every kind (tests/run_kinds.py) ------------------------------------------


@pytest.fixture(scope="session")
def run_kind_data(tmp_path_factory) -> Path:
    from run_kinds import build_datasets

    return build_datasets(tmp_path_factory.mktemp("run-kind-data"))


@pytest.fixture(scope="session")
def run_kind_template(run_kind_data, tmp_path_factory):
    """template(kind) -> a trained 2-step run of that kind of run_kinds.KINDS (built on first
    use, never modified: tests work on copies)."""
    from run_kinds import train_argv

    from drawstudio.cli.main import main

    built: dict[str, Path] = {}

    def template(kind: str) -> Path:
        if kind not in built:
            run = tmp_path_factory.mktemp(kind) / "run"
            assert main(train_argv(kind, run_kind_data, run)) == 0
            built[kind] = run
        return built[kind]

    return template


@pytest.fixture(scope="session")
def kept_root(tiny_run_template, tmp_path_factory) -> Path:
    """A pretrained folder holding the tiny 3-step run, kept with its training state."""
    from drawstudio.pretrained import keeping

    root = tmp_path_factory.mktemp("pretrained")
    keeping.keep(tiny_run_template, "tiny", root=root, title="Tiny", with_state=True, threads=1)
    return root


@pytest.fixture
def tiny_root(kept_root, tmp_path, monkeypatch) -> Path:
    """A copy of `kept_root` that the catalogue reads as the shipped models."""
    from drawstudio.pretrained import catalog

    root = Path(shutil.copytree(kept_root, tmp_path / "pretrained"))
    monkeypatch.setattr(catalog, "pretrained_root", lambda: root)
    return root
