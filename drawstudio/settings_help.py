"""What each run setting means, in which unit, and its default: the one source of these words
for `drawstudio train --help` and the tooltips of the studio's run-setup dialog."""

from __future__ import annotations

import dataclasses
from typing import Any

from drawstudio.config import BINARIZE_MODES, LIKELIHOODS, ModelConfig, TrainConfig

TENSORBOARD_DIR = "tensorboard"  # the TensorBoard log folder inside a run when none is named
CLASSIFIER_STEPS = 1500  # training steps of a run's classifier (`drawstudio classifier`, or eval training one)

# config field → (what it means, the unit of its value; "" when it has none)
SETTINGS: dict[str, tuple[str, str]] = {
    # model
    "channels": ("image channels: 1 grey, 3 colour", ""),
    "height": ("image height; a folder's images are resized to it", "pixels"),
    "width": ("image width; a folder's images are resized to it", "pixels"),
    "T": ("drawing steps: how many glimpses and canvas updates make one image", "steps"),
    "attention": ("selective attention: read and write through N×N Gaussian grids; "
                  "off reads the whole image and writes it linearly", ""),
    "read_n": ("read grid: the encoder sees N×N filter responses per glimpse", "filters per side"),
    "write_n": ("write patch: the decoder draws an N×N patch per step", "filters per side"),
    "enc_size": ("encoder LSTM size", "units"),
    "dec_size": ("decoder LSTM size", "units"),
    "z_size": ("latent units drawn at each step", "units"),
    "canvas_init": ("initial canvas logit c_0; 0 starts from grey", ""),
    "learn_canvas": ("learn the initial canvas, one logit per pixel", ""),
    "num_classes": ("conditional DRAW on this many classes (0: unconditional)", "classes"),
    "likelihood": (f"pixel likelihood: {' or '.join(LIKELIHOODS)} "
                   "(bernoulli for binary and grey images, logistic for colour)", ""),
    "layer_norm": ("layer-normalised encoder and decoder LSTMs (Ba et al. 2016), a variant beyond the DRAW "
                   "paper; trains on the plain path", ""),
    # data
    "dataset": ("mnist, fashion-mnist, binarized-mnist, two-digit-mnist, or the path of a folder of images "
                "(one subfolder per class makes labels)", ""),
    "data_dir": ("folder holding the dataset files (none: $DRAWSTUDIO_DATA, ~/.cache/drawstudio/data "
                 "and the dataset's usual places)", ""),
    "binarize": (f"{', '.join(BINARIZE_MODES)}: Bernoulli pixels drawn for every batch, pixels > 125, "
                 "or the intensities as they are", ""),
    # training
    "batch_size": ("images per step, over all processes of a distributed run", "images"),
    "lr": ("Adam learning rate at step 0", ""),
    "lr_decay": ("learning-rate decay: lr = lr0 · RATE^(step / decay interval); 1 keeps it constant", ""),
    "decay_every": ("decay interval: steps over which the learning rate shrinks by the decay rate", "steps"),
    "decay_start": ("the decay begins at this step; the learning rate holds at --lr until then", "steps"),
    "plateau_factor": ("multiply the learning rate by this when the validation bound (the test bound without a "
                       "validation split) has stopped improving (1: never)", ""),
    "plateau_patience": ("... after this many evaluations in a row without a new best (0: the plateau rule is off)",
                         "evaluations"),
    "kl_warmup_steps": ("the KL term's weight in the gradient rises from 0 to 1 over these first steps (0: off); "
                        "every logged loss and evaluation stays the true bound", "steps"),
    "grad_clip": ("clip the global gradient norm to this (0: no clipping)", ""),
    "ema_decay": ("evaluate, draw and keep a moving average of the weights, updated every step with this decay "
                  "(0.999: about the last 1,000 steps; 0: off, the trained weights themselves); training is "
                  "unchanged", ""),
    "steps": ("train until this global step", "steps"),
    "eval_every": ("test-set NLL bound every this many steps (0: only when asked)", "steps"),
    "eval_images": ("test images in each periodic NLL bound: a fixed random subset when fewer than the split",
                    "images"),
    "autosave_seconds": ("write a checkpoint at least this often while training", "seconds"),
    "log_every": ("one metrics line every this many steps, averaged over them", "steps"),
    "seed": ("seed of the weights, the batch order and every random stream", ""),
    "device": ("auto (CUDA when present), cpu, cuda or cuda:N", ""),
    "threads": ("CPU threads for training (0: one per core other processes leave free, rechecked every 15 s)",
                "threads"),
    "compile": ("torch.compile the drawing step (worth it on a GPU; seconds of compiling per shape)", ""),
    "amp": ("bf16 for the LSTM and linear products, each weight cast once a step; attention, canvas and bound "
            "stay fp32 (fast on GPUs and on CPUs with native bf16: AVX512-BF16, AMX)", ""),
    "fused": ("the fused fast path; off runs the plain reference code (same numbers, slower)", ""),
    "tensorboard": ("write TensorBoard logs (scalars, KL per drawing step, image grids at each test) to this folder; "
                    "a relative one is inside the run directory", ""),
}

_DEFAULTS: dict[str, Any] = {f.name: f.default for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)}


def default_words(name: str) -> str:
    """A field's default as a reader wants it: `64 steps`, `1e-3 per step`, `on`, `none`."""
    value, unit = _DEFAULTS[name], SETTINGS[name][1]
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    if value == 1:  # "1 step", not "1 steps"
        first, *rest = unit.split(" ")
        unit = " ".join([first.removesuffix("s"), *rest])
    return f"{shown} {unit}" if unit else shown


def help_for(name: str) -> str:
    """What the config field `name` means, ending with its default."""
    return f"{SETTINGS[name][0]} (default: {default_words(name)})"
