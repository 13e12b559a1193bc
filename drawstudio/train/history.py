"""The training history: snapshots kept in the run directory so that what the model drew at
training step 500 can still be seen at step 100,000 (the studio's training-step slider, the
KL heatmap and `drawstudio history`).

Which steps are kept. With the regular spacing g (1,000 steps at first, doubled when the
history outgrows its budget), step s is kept when

    s is a 1-2-5 step below 1,000 (1, 2, 5, 10, 20, 50, 100, 200, 500: early training
    changes fastest), or s is a multiple of g.

Doubling g deletes the multiples of the old g that are not multiples of the new one, so the
kept steps are always exactly the trained steps this rule names. Only if the early snapshots
alone outgrow the budget (a model far larger than the paper's) are the oldest of them dropped.

What a snapshot holds (`HISTORY_SIZE` images of each kind): the fixed test batch, its
reconstruction canvases σ(c_t) and the samples from fixed prior noise at every drawing step t,
quantised to uint8 (1/255, below what a screen shows); read and write attention parameters
(float16); the KL of each drawing step (float32). Glimpses and write patches are not kept.

The bound: after every write the history is at most `BUDGET_BYTES` (20 MB) on disk, plus the
one snapshot being written. For the paper's MNIST model (T=64, 28×28, 16+16 images) a snapshot
is at most 1.65 MB before compression (64·32·784 canvas bytes, the batch, 3·5·64·16 float16
attention values), so even incompressible canvases keep the 9 early steps and 3 regular ones;
real canvases compress (an early model's to 0.43 MB, `benchmarks/history_overhead.py`), and a
100,000-step run then keeps the early steps plus every 4,000th step (every 32,000th at worst).

Crash safety: one file per snapshot, `history/step-NNNNNNNNN.npz`, written with
`atomic_write` (temp file, fsync, rename); thinning only deletes whole files. A kill loses
at most the snapshot in flight: its temp file is invisible to readers and removed when the
run is next trained, and a file damaged some other way is skipped on read.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drawstudio.errors import RunDirError
from drawstudio.system.atomic import atomic_write, remove_leftover_temp_files
from drawstudio.train.snapshot import Attention, Snapshot

HISTORY_DIR = "history"
EARLY_LIMIT = 1_000  # below it, the 1-2-5 steps; from it, the regular spacing
BASE_SPACING = 1_000
BUDGET_BYTES = 20_000_000
HISTORY_SIZE = (16, 16)  # (reconstructions, samples) per snapshot
EARLY_STEPS = tuple(m * 10**e for e in range(4) for m in (1, 2, 5) if m * 10**e < EARLY_LIMIT)
_NAME = re.compile(r"^step-(\d{9})\.npz$")
_ATTENTION_FIELDS = ("gx", "gy", "delta", "sigma", "gamma")
F16_MAX = float(np.finfo(np.float16).max)


def history_dir(run_dir: Path) -> Path:
    return Path(run_dir) / HISTORY_DIR


def snapshot_path(run_dir: Path, step: int) -> Path:
    return history_dir(run_dir) / f"step-{step:09d}.npz"


def kept_by_rule(step: int, spacing: int) -> bool:
    """Whether the rule above keeps `step` at regular spacing `spacing`."""
    return step in EARLY_STEPS or (step > 0 and step % spacing == 0)


def stored_steps(run_dir: Path) -> list[int]:
    """Steps with a snapshot file in the run's history, oldest first."""
    try:
        names = [_NAME.match(p.name) for p in history_dir(run_dir).iterdir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(int(m.group(1)) for m in names if m)


def spacing_of(steps: list[int]) -> int:
    """The regular spacing a history with these steps was thinned to: the largest doubling of
    BASE_SPACING that divides every regular step (a complete history has its first multiple)."""
    regular = [s for s in steps if s not in EARLY_STEPS]
    spacing = BASE_SPACING
    while regular and all(s % (2 * spacing) == 0 for s in regular) and 2 * spacing <= min(regular):
        spacing *= 2
    return spacing


# ---- encoding ------------------------------------------------------------------------


def quantise(images: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(images, nan=0.0), 0, 1) * 255 + 0.5).astype(np.uint8)


def encode(snapshot: Snapshot) -> dict[str, np.ndarray]:
    arrays = {
        "step": np.int64(snapshot.step),
        "originals": quantise(snapshot.originals),
        "reconstructions": quantise(snapshot.reconstructions),
        "samples": quantise(snapshot.samples),
        "kl_per_step": snapshot.kl_per_step.astype(np.float32),
    }
    for name in ("labels", "sample_labels"):
        value = getattr(snapshot, name)
        if value is not None:
            arrays[name] = np.asarray(value, np.int64)
    for name in ("read", "write", "sample_write"):
        attention: Attention | None = getattr(snapshot, name)
        if attention is not None:
            arrays[f"{name}_n"] = np.int64(attention.n)
            for field in _ATTENTION_FIELDS:
                # a diverging model's attention can leave float16's range: past it, it is off the image anyway
                arrays[f"{name}_{field}"] = np.clip(getattr(attention, field), -F16_MAX, F16_MAX).astype(np.float16)
    return arrays


def decode(arrays: dict[str, np.ndarray]) -> Snapshot:
    """A Snapshot from `encode`'s arrays; its glimpses and write patches are empty (not kept)."""

    def images(name: str) -> np.ndarray:
        return arrays[name].astype(np.float32) / 255

    def attention(name: str) -> Attention | None:
        if f"{name}_n" not in arrays:
            return None
        fields = [arrays[f"{name}_{field}"].astype(np.float32) for field in _ATTENTION_FIELDS]
        return Attention(*fields, n=int(arrays[f"{name}_n"]))

    reconstructions = images("reconstructions")
    T, B, C = reconstructions.shape[:3]
    return Snapshot(
        step=int(arrays["step"]),
        originals=images("originals"),
        labels=arrays.get("labels"),
        reconstructions=reconstructions,
        read=attention("read"),
        write=attention("write"),
        read_glimpses=np.zeros((T, B, 2, C, 0, 0), np.float32),
        write_patches=np.zeros((T, B, C, 0, 0), np.float32),
        samples=images("samples"),
        sample_write=attention("sample_write"),
        sample_labels=arrays.get("sample_labels"),
        kl_per_step=arrays["kl_per_step"].astype(np.float32),
    )


@dataclass
class HistoryEntry:
    """One stored snapshot as its compact arrays (uint8 canvases): a long history fits in
    memory this way, and `snapshot()` decodes it when it is to be shown."""

    step: int
    arrays: dict[str, np.ndarray]

    @property
    def kl_per_step(self) -> np.ndarray:
        return self.arrays["kl_per_step"]

    def snapshot(self) -> Snapshot:
        return decode(self.arrays)


def load_entry(path: Path) -> HistoryEntry | None:
    """The snapshot in `path`, or None when it is gone (thinned) or damaged."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        decode(arrays)  # a file that cannot be shown is damaged: refuse it here, not when scrubbed to
        return HistoryEntry(int(arrays["step"]), arrays)
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None


# ---- writing -------------------------------------------------------------------------


class HistoryWriter:
    """Keeps the run's history as training advances: `after_step` writes a snapshot when the
    rule keeps the step, then thins. Only the process that writes the run (rank 0) has one."""

    def __init__(self, run_dir: Path, resumed_step: int, budget: int = BUDGET_BYTES):
        self.run_dir = Path(run_dir)
        self.budget = budget
        directory = history_dir(run_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            remove_leftover_temp_files(directory)
            # snapshots of steps a kill lost after the checkpoint: training them again replaces them
            for step in stored_steps(run_dir):
                if step > resumed_step:
                    snapshot_path(run_dir, step).unlink(missing_ok=True)
        except OSError as error:
            raise RunDirError(f"{directory}: could not save the training history ({error.strerror or error})") from None
        steps = stored_steps(run_dir)
        self.spacing = spacing_of(steps)
        self._sizes = {step: _size(snapshot_path(run_dir, step)) for step in steps}  # what is on disk

    def after_step(self, step: int, take: Callable[[], Snapshot]) -> bool:
        """Record `take()` if the rule keeps `step`; True when a snapshot was written."""
        if not kept_by_rule(step, self.spacing) or step in self._sizes:
            return False
        self.write(take())
        return True

    def write(self, snapshot: Snapshot) -> None:
        path = snapshot_path(self.run_dir, snapshot.step)
        arrays = encode(snapshot)
        try:
            atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
            self._sizes[snapshot.step] = _size(path)
            self._thin()
        except OSError as error:
            if not self.run_dir.is_dir():
                raise RunDirError(f"{self.run_dir}: could not save the training history "
                                  "(the run directory is gone)") from None
            raise RunDirError(f"{path}: could not save the training history ({error.strerror or error})") from None

    def _thin(self) -> None:
        while sum(self._sizes.values()) > self.budget and self._sizes:
            regular = [s for s in self._sizes if s not in EARLY_STEPS]
            if regular:
                self.spacing *= 2
                doomed = [s for s in regular if s % self.spacing]
            else:  # the early snapshots alone are over the budget
                doomed = [min(self._sizes)]
            for step in doomed:
                snapshot_path(self.run_dir, step).unlink(missing_ok=True)
                del self._sizes[step]

    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


# ---- reading -------------------------------------------------------------------------


@dataclass
class HistoryChange:
    added: list[HistoryEntry]
    removed: list[int]  # steps thinned away (or lost to a resume) since the last poll


class HistoryReader:
    """The history of a run some process is writing: each `poll` loads the files that appeared
    since the last one and names the steps whose files disappeared."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.known: set[int] = set()

    def poll(self) -> HistoryChange:
        on_disk = set(stored_steps(self.run_dir))
        removed = sorted(self.known - on_disk)
        added = []
        for step in sorted(on_disk - self.known):
            entry = load_entry(snapshot_path(self.run_dir, step))
            if entry is not None and entry.step == step:
                added.append(entry)
                self.known.add(step)
        self.known -= set(removed)
        return HistoryChange(added, removed)


def read_history(run_dir: Path) -> list[HistoryEntry]:
    """Every readable snapshot of the run's history, oldest first."""
    return HistoryReader(run_dir).poll().added


def encoded_size(snapshot: Snapshot) -> int:
    """Bytes of one snapshot's file (for the benchmark and the size bound)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **encode(snapshot))
    return buffer.tell()
