"""Exports: image grids as PNG, the drawing process as an animated GIF, metrics as CSV."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from drawstudio.system.atomic import atomic_write, atomic_write_bytes


def grid(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile (n, C, H, W) images in [0, 1] into one uint8 (rows·(H+pad)+pad, cols·(W+pad)+pad, C)."""
    n, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    out = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, channels), 0.5, np.float32)
    for index in range(n):
        row, col = divmod(index, columns)
        top, left = pad + row * (height + pad), pad + col * (width + pad)
        out[top:top + height, left:left + width] = images[index].transpose(1, 2, 0)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def _pil(tile: np.ndarray, scale: int) -> Image.Image:
    image = Image.fromarray(tile[..., 0] if tile.shape[2] == 1 else tile)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image


def save_png(images: np.ndarray, path: Path, columns: int | None = None, scale: int = 2) -> None:
    """The images (n, C, H, W) as one grid PNG."""
    buffer = io.BytesIO()
    _pil(grid(images, columns), scale).save(buffer, format="PNG")
    atomic_write_bytes(Path(path), buffer.getvalue())


def save_gif(steps: np.ndarray, path: Path, columns: int | None = None, scale: int = 2,
             frame_ms: int = 60, hold_ms: int = 1500) -> None:
    """The drawing process (T, n, C, H, W): one grid frame per step, the last held."""
    frames = [_pil(grid(images, columns), scale) for images in steps]
    if frames[0].mode == "RGB":
        frames = [f.quantize(256) for f in frames]
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    atomic_write(Path(path), lambda handle: frames[0].save(
        handle, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0))


METRIC_COLUMNS = ["kind", "step", "epoch", "elapsed", "loss", "recon", "kl", "grad_norm", "lr", "images_per_s",
                  "split", "nll", "iw_nll"]


def save_metrics_csv(records: list[dict[str, Any]], path: Path) -> None:
    """Scalar columns of train/eval/schedule records; per-step KL as kl_t1..kl_tT."""
    steps = max((len(r.get("kl_t", [])) for r in records), default=0)
    columns = METRIC_COLUMNS + [f"kl_t{t + 1}" for t in range(steps)]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    for record in records:
        if record["kind"] not in ("train", "eval", "schedule"):
            continue
        row = [record.get(column, "") for column in METRIC_COLUMNS] + list(record.get("kl_t", []))
        writer.writerow(row)
    atomic_write_bytes(Path(path), text.getvalue().encode())
