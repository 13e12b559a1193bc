"""Checkpoints: written atomically, loaded with `weights_only=True`, validated before use.

A run keeps its newest checkpoints as `checkpoints/step-NNNNNNNNN.pt`. Each is written
to a temp file, fsynced and renamed into place, so a kill at any moment leaves either
the previous set or the new file complete; resuming takes the newest file that loads.
Only tensors, numbers, strings, lists and dicts are stored, so loading never needs to
unpickle code: a file that asks for anything else is refused before it can run.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from drawstudio.atomic import atomic_write
from drawstudio.errors import CheckpointError, ConfigError

FORMAT = "drawstudio-checkpoint"
VERSION = 1
KEEP = 2  # newest checkpoints kept: the last one and a spare in case it is damaged later
_NAME = re.compile(r"^step-(\d{9})\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step-{step:09d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files of a run, newest first."""
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def save_checkpoint(run_dir: Path, state: dict[str, Any], keep: int = KEEP) -> Path:
    """Write `state` atomically as the run's newest checkpoint; prune older ones.
    Raises OSError (disk full, read-only) with the previous checkpoints intact."""
    path = checkpoint_path(run_dir, int(state["step"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(path, lambda handle: torch.save(payload, handle))
    for old in list_checkpoints(run_dir)[keep:]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check the envelope. Raises CheckpointError naming the file and the problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read checkpoint ({error.strerror or error})") from None
    if not data:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).splitlines()[0] if str(error) else "unpickling failed"
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            reason = "refused: it holds objects other than tensors and plain data (possibly code)"
        raise CheckpointError(f"{path}: {reason}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, TypeError,
            AttributeError, IndexError, OverflowError, MemoryError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({first[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a DRAW Studio checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('version')!r}, this build reads {VERSION}")
    missing = [k for k in ("config", "step", "model", "optimizer", "schedule", "sampler", "rng") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {missing}")
    return state


def check_config(path: Path, state: dict[str, Any]) -> Any:
    """The RunConfig stored in a checkpoint, or CheckpointError."""
    from drawstudio.config import RunConfig

    try:
        return RunConfig.from_dict(state["config"], "stored config")
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from None


def check_model_state(path: Path, model: torch.nn.Module, stored: Any) -> None:
    """Refuse a state dict made for another architecture, saying which tensors differ."""
    if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
        raise CheckpointError(f"{path}: model weights are not a tensor dictionary")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{path}: checkpoint is for a different model (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for name, tensor in expected.items():
        if stored[name].shape != tensor.shape:
            raise CheckpointError(
                f"{path}: checkpoint is for a different model ({name} has shape {tuple(stored[name].shape)}, "
                f"this model needs {tuple(tensor.shape)})"
            )
        if not torch.isfinite(stored[name]).all():
            raise CheckpointError(f"{path}: weights in {name} are not finite")


def newest_loadable(
    run_dir: Path, map_location: str | torch.device = "cpu"
) -> tuple[Path, dict[str, Any], list[str]] | None:
    """The newest checkpoint of a run that loads, the problems of newer ones it skipped, or
    None when the run has no checkpoint. Raises the newest file's CheckpointError when every
    file is damaged."""
    problems: list[str] = []
    errors: list[CheckpointError] = []
    for path in list_checkpoints(run_dir):
        try:
            return path, load_checkpoint(path, map_location), problems
        except CheckpointError as error:
            errors.append(error)
            problems.append(str(error))
    if errors:
        raise errors[0]
    return None
