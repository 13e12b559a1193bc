"""The run-setup dialog's fields: which settings get a spin box and in what range, the widgets for
choices and factors, and what a preset sets that no field shows (its note says so)."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QSpinBox

from drawstudio.config import ModelConfig
from drawstudio.studio.new_run import preset_dataset
from drawstudio.train.presets import PRESETS

DEVICES = ("auto", "cpu", "cuda")

# (field, label, minimum, maximum) of the integer model and training settings
MODEL_INTS = (("T", "drawing steps T", 1, 1024), ("read_n", "read grid N", 1, 256),
              ("write_n", "write grid N", 1, 256), ("enc_size", "encoder units", 1, 8192),
              ("dec_size", "decoder units", 1, 8192), ("z_size", "latent size z", 1, 4096),
              ("height", "image height", 1, 4096), ("width", "image width", 1, 4096))
TRAIN_INTS = (("batch_size", "batch size", 1, 65536), ("steps", "train until step", 0, 100_000_000),
              ("decay_every", "decay interval", 1, 100_000_000),
              ("decay_start", "decay starts at step", 0, 100_000_000),
              ("eval_every", "test NLL every (0 = never)", 0, 100_000_000),
              ("plateau_patience", "plateau: evaluations (0 = off)", 0, 1_000_000),
              ("kl_warmup_steps", "KL warm-up steps (0 = off)", 0, 100_000_000))
# model settings with no field here (the attention's start, the canvas): a preset may set them,
# and the dialog carries them into the run unchanged
FIELDLESS_MODEL = tuple(field.name for field in dataclasses.fields(ModelConfig)
                        if field.name not in {name for name, *_ in MODEL_INTS}
                        | {"attention", "num_classes", "channels", "likelihood"})


def choice(options: tuple[str, ...], current: str) -> QComboBox:
    combo = QComboBox()
    combo.addItems(list(options))
    combo.setCurrentText(current)
    return combo


def int_field(grid: QGridLayout, index: int, label: str, low: int, high: int, value: int) -> QSpinBox:
    """A labelled spin box for an integer setting, placed two to a row in `grid`."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    row, col = index // 2, 2 * (index % 2)
    grid.addWidget(QLabel(label), row, col)
    grid.addWidget(box, row, col + 1)
    return box


def float_box(low: float, high: float, decimals: int, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setValue(value)
    return box


def factor_box(value: float) -> QDoubleSpinBox:
    """A spin box for a factor in (0, 1] that the learning rate is multiplied by."""
    return float_box(0.01, 1.0, 4, value)


def fieldless_settings(model: ModelConfig) -> dict[str, Any]:
    """`model`'s settings that the dialog has no field for."""
    return {name: getattr(model, name) for name in FIELDLESS_MODEL}


def preset_fieldless_settings(name: str) -> dict[str, Any]:
    """The model settings preset `name` changes that the dialog has no field for, so its note
    can say so (a field would show them)."""
    defaults = ModelConfig()
    return {key: value for key, value in PRESETS[name]["model"].items()
            if key in FIELDLESS_MODEL and value != getattr(defaults, key)}


def preset_note(name: str, edited: bool) -> str:
    """The dialog's note on preset `name`: its source, what it needs and sets beyond the fields,
    and whether the fields were `edited` away from it (HTML)."""
    lines = [f"Source: {html.escape(PRESETS[name]['source'])}."]
    if preset_dataset(name) is None:
        lines.append(f"<b>Needs a folder of images</b> ({name} has no built-in loader): choose it under "
                     "Data ▸ image folder.")
    made_for = PRESETS[name]["train"].get("steps")
    if made_for:
        lines.append(f"Its decay is made for {made_for:,} steps and follows “train until step”.")
    fieldless = preset_fieldless_settings(name)
    if fieldless:
        settings = ", ".join(f"{key} = {value}" for key, value in fieldless.items())
        lines.append(f"Also sets (no field here): {html.escape(settings)}.")
    if edited:
        lines.append("<i>Edited: some fields no longer hold the preset's values.</i>")
    return "<br>".join(lines)
