"""Measuring a run: the test (or validation) bound, the importance-weighted bound, and the
snapshots of fixed images and fixed prior noise that the studio and the history show.

Evaluation draws from its own seeded generators, never the training RNG, so evaluating
does not change how training continues, and every evaluation of a run sees the same images
(binarised once) with the same noise. The ranks of a distributed run share an evaluation's
batches out between them and add up their sums, so it takes a rank's share of the time and
gives the number one process would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from drawstudio.config import RunConfig
from drawstudio.data.base import ImageData, ImageSet
from drawstudio.data.batches import to_model_input
from drawstudio.errors import ConfigError
from drawstudio.model.likelihood import importance_weighted_nll
from drawstudio.train.distributed import DistInfo
from drawstudio.train.memory import memory_guard
from drawstudio.train.objective import Objective
from drawstudio.train.snapshot import Attention, Snapshot, to_numpy

EVAL_SEED_OFFSET = 1_000_003  # eval and snapshots draw from their own generators, never the training RNG


@dataclass
class EvalSet:
    images: Tensor  # (N, C, H, W) model input in [0, 1] on the device, binarised once with a fixed seed
    labels: Tensor | None


class Evaluation:
    """A run's evaluations: `objective` (the path the run trains with, unwrapped) on `data`, by
    every rank of `dist` together (each must call `evaluate` at the same step)."""

    def __init__(self, objective: Objective, config: RunConfig, data: ImageData, binarize: str,
                 device: torch.device, dist: DistInfo | None = None):
        self.objective = objective
        self.config = config
        self.data = data
        self.binarize = binarize
        self.device = device
        self.dist = dist or DistInfo()
        self._eval_sets: dict[str, EvalSet] = {}

    def split(self, name: str) -> ImageSet:
        found = {"train": self.data.train, "test": self.data.test, "valid": self.data.valid}.get(name)
        if found is None:
            raise ConfigError(f"split {name!r}: dataset {self.data.name!r} has no such split")
        return found

    def eval_set(self, name: str) -> EvalSet:
        """A split as model input, binarised once with a fixed seed so every evaluation of the
        run sees the same images."""
        if name not in self._eval_sets:
            images = self.split(name)
            generator = torch.Generator().manual_seed(self.config.train.seed + EVAL_SEED_OFFSET)
            indices = torch.arange(len(images))
            x = to_model_input(images.images(indices, generator), self.binarize, generator, self.device)
            labels = images.labels(indices) if self.config.model.num_classes else None
            self._eval_sets[name] = EvalSet(x, None if labels is None else labels.to(self.device))
        return self._eval_sets[name]

    @torch.no_grad()
    def evaluate(self, step: int, split: str = "test", max_images: int | None = None, iw_samples: int = 1,
                 batch_size: int = 1000) -> dict[str, Any]:
        """The test-set bound in nats per image: reconstruction + KL (the paper's number) and,
        with iw_samples K > 1, the importance-weighted bound log (1/K) Σ p(x, z_k)/q(z_k|x)."""
        data = self.eval_set(split)
        total = len(data.images)
        count = total if max_images is None else min(max_images, total)
        chosen = eval_subset(total, count, self.config.train.seed)
        generator = torch.Generator(self.device).manual_seed(self.config.train.seed + EVAL_SEED_OFFSET)
        per_batch = max(1, batch_size // iw_samples)
        c = self.config.model
        sums = torch.zeros(4, dtype=torch.float64, device=self.dist.device)
        start = time.perf_counter()
        for item, first in enumerate(range(0, count, per_batch)):
            batch = chosen[first:first + per_batch].to(self.device)
            # every rank draws every batch's noise, so that a batch's noise is the same whichever rank evaluates it
            noise = torch.randn(c.T, iw_samples * len(batch), c.z_size, device=self.device, generator=generator)
            if not self.dist.takes(item):
                continue
            x = data.images[batch]
            labels = None if data.labels is None else data.labels[batch]
            with memory_guard(f"evaluation in batches of {per_batch} x {iw_samples} samples"):
                bound, recon, kl, iw = self.bounds(x, labels, iw_samples, noise)
            sums += torch.stack([bound.sum(), recon.sum(), kl.sum(), iw.sum()]).double().to(sums.device)
        bound, recon, kl, iw = (self.dist.total(sums).cpu() / count).tolist()
        record: dict[str, Any] = {
            "kind": "eval", "split": split, "step": step, "nll": bound, "recon": recon, "kl": kl,
            "images": count, "seconds": round(time.perf_counter() - start, 3),
        }
        if count < total:
            record["subset"] = f"a fixed random {count} of the {total} {split} images (seed {self.config.train.seed})"
        if iw_samples > 1:
            record.update(iw_nll=iw, iw_samples=iw_samples)
        return record

    def bounds(self, x: Tensor, labels: Tensor | None, k: int, noise: Tensor
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per image: the bound, its reconstruction and KL parts, and the K-sample IW bound, for
        `noise` (T, K·B, Z)."""
        repeated = x.repeat(k, 1, 1, 1)  # (K·B, C, H, W), sample k of image b at k·B + b
        repeated_labels = None if labels is None else labels.repeat(k)
        out = self.objective(repeated, repeated_labels, noise, importance=k > 1)
        batch = x.shape[0]
        bound = out.loss.view(k, batch)
        recon = out.recon.view(k, batch).mean(0)
        kl = out.kl.sum(1).view(k, batch).mean(0)
        if k == 1:
            return bound[0], recon, kl, bound[0]
        iw = importance_weighted_nll(out.recon.view(k, batch), out.log_ratio.view(k, batch))
        return bound.mean(0), recon, kl, iw

    @torch.no_grad()
    def snapshot(self, step: int, n_recon: int = 16, n_samples: int = 16,
                 sample_labels: list[int] | None = None) -> Snapshot:
        """Reconstructions of a fixed test batch and samples from fixed prior noise, with every
        step's canvas and attention, so successive snapshots show the same images learning."""
        c = self.config.model
        data = self.eval_set("test")
        chosen = spread(len(data.images), n_recon)
        n_recon = len(chosen)
        x = data.images[chosen]
        labels = None if data.labels is None else data.labels[chosen]
        generator = torch.Generator(self.device).manual_seed(self.config.train.seed + 2 * EVAL_SEED_OFFSET)
        noise = torch.randn(c.T, n_recon, c.z_size, device=self.device, generator=generator)
        out = self.objective.model(x, labels, noise, record=True)
        trace = out.trace
        assert trace is not None
        wanted = None
        if c.num_classes:
            classes = sample_labels or [i % c.num_classes for i in range(n_samples)]
            n_samples = len(classes)
            wanted = torch.tensor(classes, device=self.device)
        sample_noise = torch.randn(c.T, n_samples, c.z_size, device=self.device, generator=generator)
        samples, sample_write = self.objective.model.generate(n_samples, wanted, sample_noise)
        return Snapshot(
            step=step,
            originals=to_numpy(x),
            labels=None if labels is None else labels.cpu().numpy(),
            reconstructions=to_numpy(torch.sigmoid(trace.canvases)),
            read=Attention.from_params(trace.read, c.read_n),
            write=Attention.from_params(trace.write, c.write_n),
            read_glimpses=to_numpy(trace.read_glimpses),
            write_patches=to_numpy(trace.write_patches),
            samples=to_numpy(samples),
            sample_write=Attention.from_params(sample_write, c.write_n),
            sample_labels=None if wanted is None else wanted.cpu().numpy(),
            kl_per_step=to_numpy(out.kl.mean(0)),
        )


def spread(total: int, count: int) -> Tensor:
    """`count` indices evenly spaced over a split of `total` images (all of them when fewer):
    the snapshots' fixed batch. Some splits are sorted by class (binarized MNIST's test split
    holds its 0s first), so the first images would all be one digit."""
    count = min(count, total)
    return torch.arange(count) * total // max(count, 1)


def eval_subset(total: int, count: int, seed: int) -> Tensor:
    """Which images an evaluation of `count` of `total` uses: all of them in order, or a
    random subset fixed by the run's seed, so every evaluation of a run sees the same images.
    The first images of a split are no fair sample (MNIST's first 5,000 test digits are the
    cleaner half)."""
    if count >= total:
        return torch.arange(total)
    generator = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET)
    return torch.randperm(total, generator=generator)[:count].sort().values
