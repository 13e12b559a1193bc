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
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch

from drawstudio.config import brief
from drawstudio.errors import CheckpointError, ConfigError
from drawstudio.system.atomic import atomic_write

FORMAT = "drawstudio-checkpoint"
VERSION = 1
KEEP = 2  # newest checkpoints kept: the last one and a spare in case it is damaged later
_NAME = re.compile(r"^step-(\d{9})\.pt$")
_GLOBAL = re.compile(r"GLOBAL (\S+)")  # how torch's weights-only unpickler names a refused import


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
    # not parents=True: a run directory deleted under a running trainer must fail the save,
    # not come back holding nothing but checkpoints
    path.parent.mkdir(exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(path, lambda handle: torch.save(payload, handle))
    for old in list_checkpoints(run_dir)[keep:]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a training checkpoint and check it is complete. Raises CheckpointError naming the
    file and the problem."""
    state = load_file(path, map_location, FORMAT)
    if type(state.get("version")) is not int or state["version"] != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {brief(state.get('version'))}, this build reads {VERSION}")
    missing = [k for k in ("config", "step", "model", "optimizer", "schedule", "sampler", "rng") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {missing}")
    check_tensor_layouts(path, state)
    return state


def load_file(path: Path, map_location: str | torch.device, expected_format: str) -> dict[str, Any]:
    """Load a file written by `torch.save` of a dict tagged {"format": expected_format}, refusing
    anything but tensors and plain data. Raises CheckpointError naming the file and the problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read checkpoint ({error.strerror or error})") from None
    if not data:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    damaged = _member_failing_checksum(data)
    if damaged:
        raise CheckpointError(f"{path}: corrupt checkpoint ({damaged}); nothing was loaded")
    try:
        with warnings.catch_warnings():
            # damaged bytes can make torch warn (e.g. about an unknown pickle protocol) on
            # top of failing; the error below says all there is to say, on one line
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path}: {_unpickling_problem(str(error))}") from None
    except Exception as error:  # torch's reader fails on damaged bytes in many ways; all mean the same
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({first_line(str(error), type(error).__name__)})"
        ) from None
    unchecked = _unchecked_archive(data)
    if unchecked:
        raise CheckpointError(f"{path}: corrupt checkpoint (its zip directory is damaged: {unchecked}); "
                              "nothing was loaded")
    # type checks first: a damaged file may hold a tensor there, whose == is elementwise
    if not isinstance(state, dict) or not isinstance(state.get("format"), str) or state["format"] != expected_format:
        raise CheckpointError(f"{path}: not a DRAW Studio {expected_format.split('-')[-1]} file")
    return state


def _unchecked_archive(data: bytes) -> str | None:
    """Why a zip archive (a torch checkpoint is one) could not be opened to check its members,
    or None. torch's reader may still read such a file, damaged bytes and all."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        zipfile.ZipFile(io.BytesIO(data)).close()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
        return first_line(str(error), type(error).__name__)
    return None


def _member_failing_checksum(data: bytes) -> str | None:
    """What is wrong with the first damaged member of a checkpoint's zip archive (bytes that do
    not match their stored CRC-32, or a damaged header), or None. torch's reader does not check them: flipped bytes inside a tensor would load as
    finite nonsense weights (or optimiser moments) and surface later as a non-finite loss. A
    file that is no zip at all is left to torch's reader, which names its own problem."""
    unreadable = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except unreadable:
        return None
    with archive:
        try:
            failing = archive.testzip()
        except unreadable as error:  # the directory reads but a member's own header is damaged
            return f"a damaged member ({first_line(str(error), type(error).__name__)})"
    return None if failing is None else f"{failing} fails its checksum"


def _unpickling_problem(message: str) -> str:
    """What the weights-only unpickler refused, in a few words: a global it was asked to
    import (code, possibly hostile) or the first line of its complaint about the bytes."""
    asked = _GLOBAL.search(message)
    if asked:
        return f"refused: it asks for {asked.group(1)}, which a checkpoint never holds (possibly code); nothing was run"
    detail = message.rpartition("WeightsUnpickler error:")[2]
    return f"corrupt checkpoint, refused without running anything ({first_line(detail, 'unpickling failed')})"


def first_line(text: str, fallback: str) -> str:
    """The first sentence of an error message's first non-blank line, for a one-line error
    (torch's messages go on to advice that does not apply here)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].split(". ")[0][:200] if lines else fallback


def check_config(path: Path, state: dict[str, Any]) -> Any:
    """The RunConfig stored in a checkpoint, or CheckpointError."""
    from drawstudio.config import RunConfig

    try:
        return RunConfig.from_dict(state["config"], "stored config")
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from None


def model_differences(stored: Any, wanted: Any) -> str:
    """The first few settings in which two ModelConfigs differ, for an error message."""
    diffs = [f"{name}={getattr(stored, name)!r} there, {getattr(wanted, name)!r} here"
             for name in stored.__dataclass_fields__ if getattr(stored, name) != getattr(wanted, name)]
    return "; ".join(diffs[:4])


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


def check_tensor_layouts(path: Path, state: Any, where: str = "checkpoint") -> None:
    """Refuse a tensor whose stored memory layout is not one `torch.save` of this program's
    state writes (every tensor contiguous): a damaged stride can make elements share memory,
    which loads but makes the optimiser's in-place update fail later."""
    if isinstance(state, torch.Tensor):
        if not state.is_contiguous():
            raise CheckpointError(f"{path}: damaged tensor {where} (shape {tuple(state.shape)}, "
                                  f"strides {state.stride()})")
    elif isinstance(state, dict):
        for key, value in state.items():
            check_tensor_layouts(path, value, f"{where}[{key!r}]")
    elif isinstance(state, (list, tuple)):
        for index, value in enumerate(state):
            check_tensor_layouts(path, value, f"{where}[{index}]")


def optimizer_settings(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """The settings of each parameter group except the learning rate (the schedule sets it
    every step): what a checkpoint of the same config must hold."""
    return [{k: v for k, v in group.items() if k not in ("params", "lr")} for group in optimizer.param_groups]


def check_optimizer_state(path: Path, optimizer: torch.optim.Optimizer, steps: int,
                          settings: list[dict[str, Any]]) -> None:
    """The loaded optimiser must have `settings` (`optimizer_settings` of it as built);
    each parameter's moments that parameter's shape and finite values, and its step count
    lie in 0..`steps` (the run's): Adam raises its betas to that power."""
    loaded = optimizer.param_groups
    for group, wanted in zip(loaded, settings):
        for key, value in wanted.items():
            if type(group.get(key)) is not type(value) or group[key] != value:
                raise CheckpointError(f"{path}: damaged optimiser settings ({key} is {brief(group.get(key))})")
    for group in loaded:
        for param in group["params"]:
            moments = optimizer.state.get(param, {})
            if not isinstance(moments, dict):
                raise CheckpointError(f"{path}: damaged optimiser state (a {type(moments).__name__} for a parameter)")
            expected = {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if group.get("amsgrad") else set())
            if moments and set(moments) != expected:  # no moments yet is a parameter never stepped
                raise CheckpointError(f"{path}: damaged optimiser state (moments {brief(sorted(moments, key=str))}, "
                                      f"expected {sorted(expected)})")
            for name, value in moments.items():
                problem = None
                if not isinstance(value, torch.Tensor):
                    problem = f"{name} is a {type(value).__name__}"
                elif name != "step" and value.shape != param.shape:
                    problem = f"{name} has shape {tuple(value.shape)}, its parameter {tuple(param.shape)}"
                elif not torch.isfinite(value).all():
                    problem = f"{name} is not finite"
                elif name == "step" and (value.numel() != 1 or not 0 <= value.item() <= steps):
                    problem = f"step count {value.tolist()} outside 0..{steps}"
                if problem:
                    raise CheckpointError(f"{path}: damaged optimiser state ({problem})")


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
