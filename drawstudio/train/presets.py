"""The paper's experimental settings as named presets (`drawstudio train --preset NAME`).

Sizes come from Table 3 ("Experimental Hyper-Parameters") of Gregor et al. 2015 unless a
setting's note says otherwise; the paper gives no optimiser settings, so the training
values are ours and are marked as such.
"""

from __future__ import annotations

import copy
from typing import Any

from drawstudio.config import start_lr
from drawstudio.errors import ConfigError

_PAPER_MNIST_MODEL = {"T": 64, "read_n": 2, "write_n": 5, "enc_size": 256, "dec_size": 256, "z_size": 100}
# Ours (the paper gives no optimiser settings), also the studio's new-run default: an
# exponential decay halving the rate every 6,248 steps (8 epochs of binarized MNIST at batch
# 64), with the plateau rule on top, which halves it whenever two evaluations in a row bring no
# new best held-out bound. A constant rate stalls, and halving every 5 epochs left the rate too
# low from epoch 9 on (docs/experiments/benchmark.md). The KL's weight reaches 1 at step 300
# (docs/experiments/first-minute.md). A higher rate wins at T=16 but diverges at the
# paper's T=64, even decaying (lr 3e-3 halving every 3 epochs blew up near step 1,000), so these
# are for the long model. The clip at 10 scales almost every step (the norm is in the hundreds);
# for the default fast start that wins the first epoch (137.50 against 143.46 nats unclipped).
# Every preset sets every one of these keys, so picking one after another in the new-run dialog
# leaves none of the first one's schedule behind. The rate is the one every new run gets by its T
# (`config.start_lr`: 1e-3 at the paper's T = 64), set by `apply_preset`.
SCHEDULE = {"lr_decay": 0.5, "decay_every": 6248, "decay_start": 0, "plateau_factor": 0.5,
            "plateau_patience": 2, "kl_warmup_steps": 300, "grad_clip": 10.0}
# The benchmark's attention start: the read's 2×2 grid spanning the image, both filters half a
# stride wide, both intensities 1. The default start (ModelConfig) draws from the first minute
# but at T=64 it learns slower after the first epochs; over 16 epochs this one ends lower
# (docs/experiments/benchmark-schedule.md).
_LONG_RUN_START = {"read_stride_init": 1.0, "read_sigma_init": 0.5, "write_sigma_init": 0.5,
                   "read_gamma_init": 1.0, "write_gamma_init": 1.0}
# The benchmark's length, 16 epochs (12,500 steps), and a schedule made for it: the full rate
# for 10 epochs, where the bound still falls, then halving every 2 epochs to an eighth of it at
# epoch 16. Its start needs no KL warm-up (its KL stays small until the read learns to move).
# A run of another length gets the hold and the interval scaled with it (`fitted_schedule`), so
# it also ends at an eighth of the rate.
# Its gradient is clipped only in a spike: the paper model's global norm is 200-2,000 all through
# training, so a clip at 10 scales every step and Adam then sees each gradient at unit norm (it
# learns slower: 120.21 against 104.24 nats at epoch 4, level by epoch 16: 88.89 against 89.34),
# while no clipping at all let one gradient of norm 286,329 at step 3,604 wreck a run
# (docs/experiments/benchmark-schedule.md).
_BENCHMARK_TRAINING = {"steps": 12500, "decay_start": 7810, "decay_every": 1562, "kl_warmup_steps": 0,
                       "grad_clip": 1000.0}
# binarized MNIST has 50,000 training images: one evaluation per epoch at batch 64
_BINARIZED_MNIST = {**SCHEDULE, "dataset": "binarized-mnist", "binarize": "none", "batch_size": 64,
                    "eval_every": 781}

PRESETS: dict[str, dict[str, Any]] = {
    "mnist-attention": {
        "source": "Table 3, 'MNIST Model'; binarized MNIST as in Table 2 (NLL ≤ 80.97)",
        "model": {**_PAPER_MNIST_MODEL, **_LONG_RUN_START, "attention": True},
        "train": {**_BINARIZED_MNIST, **_BENCHMARK_TRAINING},
    },
    "mnist-attention-ln": {
        "source": "mnist-attention with layer-normalised LSTMs, a variant beyond the paper (Ba et al. 2016, §6.4: "
                  "DRAW converged about twice as fast in epochs, 82.09 against 82.36 nats after 200)",
        "model": {**_PAPER_MNIST_MODEL, **_LONG_RUN_START, "attention": True, "layer_norm": True},
        "train": {**_BINARIZED_MNIST, **_BENCHMARK_TRAINING},
    },
    "mnist-no-attention": {
        "source": "Table 2's model without attention (NLL ≤ 87.40); Table 3 lists sizes only for the attention "
                  "model, so T, LSTM and z sizes are taken from it",
        "model": {**_PAPER_MNIST_MODEL, "attention": False},
        "train": _BINARIZED_MNIST,
    },
    "two-digit-mnist": {
        "source": "§4.3: 60×60 canvases of two MNIST digits; Table 3 has no row for it, so the MNIST model's "
                  "T, LSTM and z sizes are used with a 5×5 read so the encoder can see a digit's strokes (our choice)",
        "model": {**_PAPER_MNIST_MODEL, "height": 60, "width": 60, "read_n": 5, "write_n": 5},
        "train": {**SCHEDULE, "dataset": "two-digit-mnist", "binarize": "dynamic"},
    },
    "svhn": {
        "source": "Table 3, 'SVHN Model' (64×64 colour images); dataset: a folder of SVHN PNGs (--dataset PATH); "
                  "likelihood: discretised logistic instead of the paper's Bernoulli cross-entropy (see "
                  "drawstudio/model/likelihood.py)",
        "model": {"T": 32, "read_n": 12, "write_n": 12, "enc_size": 800, "dec_size": 800, "z_size": 100,
                  "channels": 3, "height": 64, "width": 64, "likelihood": "logistic"},
        "train": {**SCHEDULE, "binarize": "none"},
    },
    "cifar10": {
        "source": "Table 3, 'CIFAR Model' (32×32 colour images); dataset: a folder of CIFAR-10 PNGs, one "
                  "subfolder per class; likelihood as for svhn",
        "model": {"T": 64, "read_n": 5, "write_n": 5, "enc_size": 400, "dec_size": 400, "z_size": 200,
                  "channels": 3, "height": 32, "width": 32, "likelihood": "logistic"},
        "train": {**SCHEDULE, "binarize": "none"},
    },
}


def apply_preset(config: dict[str, Any], name: str, steps: int | None = None) -> dict[str, Any]:
    """`config` (a RunConfig dict) with the preset's settings on top; with `steps`, for a run
    of that length, its schedule fitted to it."""
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r}: not one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    result = copy.deepcopy(config)
    result["model"].update(preset["model"])
    result["train"].update({"lr": start_lr(result["model"]["T"]), **preset["train"]})
    if steps is not None:
        result["train"]["steps"] = steps
        result["train"].update(fitted_schedule(name, steps))
    return result


def fitted_schedule(name: str, steps: int) -> dict[str, int]:
    """Preset `name`'s hold (`decay_start`) and decay interval (`decay_every`) for a run of
    `steps` steps. A preset made for a length scales both with the run's, so the rate falls
    over the same share of the run to the same end value; a preset without a length of its
    own has nothing to fit (empty)."""
    train = PRESETS[name]["train"]
    if "steps" not in train:
        return {}
    share = steps / train["steps"]
    return {"decay_start": round(train["decay_start"] * share),
            "decay_every": max(1, round(train["decay_every"] * share))}


def describe() -> str:
    return "\n".join(f"{name}: {preset['source']}" for name, preset in PRESETS.items())
