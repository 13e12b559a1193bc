"""`drawstudio history`: a timelapse of training from the run's history, one frame per kept
training step showing the finished samples from the fixed prior noise, captioned with the step."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw

from drawstudio.errors import RunDirError
from drawstudio.export.images import grid
from drawstudio.system.atomic import atomic_write
from drawstudio.train.history import HistoryEntry, history_dir, read_history
from drawstudio.train.runs import load_run_config

CAPTION_HEIGHT = 14
SCALE = 2
FRAME_MS = 400
HOLD_MS = 2000


def captioned_frame(entry: HistoryEntry) -> Image.Image:
    """The finished samples of one kept step as a grid, under a strip saying the step."""
    samples = entry.arrays["samples"][-1].astype(np.float32) / 255  # (S, C, H, W) at t = T
    tiles = grid(samples)
    picture = Image.fromarray(tiles[..., 0] if tiles.shape[2] == 1 else tiles).convert("RGB")
    picture = picture.resize((picture.width * SCALE, picture.height * SCALE), Image.NEAREST)
    frame = Image.new("RGB", (picture.width, picture.height + CAPTION_HEIGHT), (32, 33, 36))
    frame.paste(picture, (0, CAPTION_HEIGHT))
    ImageDraw.Draw(frame).text((3, 1), f"step {entry.step}", fill=(235, 235, 235))
    return frame


def contact_sheet(frames: list[Image.Image]) -> Image.Image:
    columns = math.ceil(math.sqrt(len(frames)))
    rows = math.ceil(len(frames) / columns)
    width, height = frames[0].size
    sheet = Image.new("RGB", (columns * width, rows * height), (32, 33, 36))
    for index, frame in enumerate(frames):
        row, col = divmod(index, columns)
        sheet.paste(frame, (col * width, row * height))
    return sheet


def write_timelapse(run_dir: Path, gif: Path, png: Path | None = None) -> int:
    """Write the GIF (and, if asked, every frame side by side as a PNG); returns the frame count."""
    load_run_config(run_dir)  # says what is wrong with a directory that is not a run
    entries = read_history(run_dir)
    if not entries:
        raise RunDirError(f"{run_dir}: no training history yet ({history_dir(run_dir).name}/ is empty or missing; "
                          "training writes it from step 1)")
    frames = [captioned_frame(entry) for entry in entries]
    durations = [FRAME_MS] * (len(frames) - 1) + [HOLD_MS]
    quantised = [frame.quantize(256) for frame in frames]
    _write(gif, lambda handle: quantised[0].save(handle, format="GIF", save_all=True,
                                                 append_images=quantised[1:], duration=durations, loop=0))
    if png is not None:
        buffer = io.BytesIO()
        contact_sheet(frames).save(buffer, format="PNG")
        _write(png, lambda handle: handle.write(buffer.getvalue()))
    return len(frames)


def _write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(path), write)
    except OSError as error:
        raise RunDirError(f"{path}: cannot write the timelapse ({error.strerror or error})") from None
