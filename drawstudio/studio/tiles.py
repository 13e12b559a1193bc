"""Laying many small images out as one image, so a pane shows a whole batch with a single
ImageItem (one texture upload per frame) and attention boxes are placed by arithmetic."""

from __future__ import annotations

import math

import numpy as np

from drawstudio.train.snapshot import Attention

PAD = 1  # pixels between tiles
FILL = 0.5  # the gap colour: mid grey, so both white and black tiles stand out


def tile(images: np.ndarray, columns: int, pad: int = PAD, fill: float = FILL) -> np.ndarray:
    """(..., n, C, H, W) → (..., rows·(H+pad)+pad, columns·(W+pad)+pad) for C = 1, or with a
    trailing RGB axis for C = 3; tile i sits at `origin(i)`. uint8 images stay uint8."""
    *lead, n, channels, height, width = images.shape
    rows = math.ceil(n / columns)
    missing = rows * columns - n
    widths = [(0, 0)] * len(lead) + [(0, missing), (0, 0), (0, pad), (0, pad)]
    if images.dtype != np.uint8:
        images = images.astype(np.float32, copy=False)
    padded = np.pad(images, widths, constant_values=fill)
    padded = padded.reshape(*lead, rows, columns, channels, height + pad, width + pad)
    k = len(lead)
    order = list(range(k)) + [k, k + 3, k + 1, k + 4, k + 2]  # rows, H, columns, W, C
    out = padded.transpose(order).reshape(*lead, rows * (height + pad), columns * (width + pad), channels)
    out = np.pad(out, [(0, 0)] * k + [(pad, 0), (pad, 0), (0, 0)], constant_values=fill)
    return np.ascontiguousarray(out[..., 0] if channels == 1 else out)


def tile_pixels(images: np.ndarray, columns: int) -> np.ndarray:
    """`tile` of [0, 1] grey or colour images as opaque 0xffRRGGBB uint32 pixels (..., h, w),
    Qt's RGB32, the format QPainter scales fastest (a grey 8-bit image is converted pixel by
    pixel at every paint, four times slower). NaN shows black."""
    # quantised before tiling: the tiling's copies then move a quarter of the bytes
    finite = np.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0)
    quantised = (np.clip(finite, 0, 1) * 255 + 0.5).astype(np.uint8)
    levels = tile(quantised, columns, fill=round(FILL * 255)).astype(np.uint32)
    if images.shape[-3] == 3:
        rgb = levels[..., 0] << 16 | levels[..., 1] << 8 | levels[..., 2]
    else:
        rgb = levels * 0x010101
    return rgb | 0xFF000000


def origin(index: int, columns: int, height: int, width: int, pad: int = PAD) -> tuple[int, int]:
    """(x, y) of tile `index`'s top-left pixel edge in `tile`'s output."""
    row, col = divmod(index, columns)
    return pad + col * (width + pad), pad + row * (height + pad)


def columns_for(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def signed_to_unit(values: np.ndarray) -> np.ndarray:
    """Map values of either sign to [0, 1] with 0 at mid grey, scaled by the largest magnitude,
    so a patch's strongest ink is full white or black whatever its units."""
    scale = float(np.nanmax(np.abs(values))) if values.size else 0.0
    if not math.isfinite(scale) or scale == 0:
        return np.full_like(values, 0.5, dtype=np.float32)
    return (0.5 + 0.5 * values / scale).astype(np.float32)


def positive_to_unit(values: np.ndarray) -> np.ndarray:
    """Scale non-negative values to [0, 1] by their maximum (γ-scaled glimpses exceed 1)."""
    scale = float(np.nanmax(values)) if values.size else 0.0
    if not math.isfinite(scale) or scale <= 0:
        return np.zeros_like(values, dtype=np.float32)
    return np.clip(values / scale, 0, 1).astype(np.float32)


def box_paths(attention: Attention, columns: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Outlines of every example's attention box at every step, as (T, 6·B) x and y arrays
    in tile coordinates: one closed rectangle per example, NaN-separated (for a single
    PlotCurveItem with connect='finite'), clipped to its own tile so that a box reaching
    past the image edge does not cover the neighbouring example."""
    left, top, box_width, box_height = attention.boxes()  # each (T, B)
    steps, batch = left.shape
    ox, oy = np.array([origin(b, columns, height, width) for b in range(batch)], np.float32).T
    x0, x1 = np.clip(left, 0, width) + ox, np.clip(left + box_width, 0, width) + ox
    y0, y1 = np.clip(top, 0, height) + oy, np.clip(top + box_height, 0, height) + oy
    gap = np.full_like(x0, np.nan)
    xs = np.stack([x0, x1, x1, x0, x0, gap], axis=2)  # (T, B, 6)
    ys = np.stack([y0, y0, y1, y1, y0, gap], axis=2)
    return xs.reshape(steps, -1).astype(np.float32), ys.reshape(steps, -1).astype(np.float32)
