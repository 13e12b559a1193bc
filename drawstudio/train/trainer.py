"""The trainer: one run's model, optimiser, data, schedule and run directory.

It is not thread-aware: `TrainingSession` drives it from a thread and the CLI from the
main thread, both through `advance()`. The one thing other threads may call is
`change_schedule`, which queues the change for the next step. The learning rate lives in
`RateControl` (`self.rate`), which also runs the plateau rule on the periodic evaluations.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from drawstudio.atomic import remove_leftover_temp_files
from drawstudio.config import RunConfig
from drawstudio.data import load_dataset
from drawstudio.data.base import ImageData, ImageSet
from drawstudio.data.batches import EpochSampler, effective_binarize, to_model_input
from drawstudio.devices import prepare, resolve_device
from drawstudio.errors import CheckpointError, ConfigError, NonFiniteError, RunDirError
from drawstudio.events import Event
from drawstudio.model.draw import Draw, DrawOutput
from drawstudio.model.fused import fused_forward
from drawstudio.model.likelihood import importance_weighted_nll
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.rate_control import RateControl
from drawstudio.train.schedule import Segment
from drawstudio.train.distributed import DistInfo
from drawstudio.train.metrics import MetricsWriter
from drawstudio.train.snapshot import Attention, Snapshot, to_numpy
from drawstudio.train.warmup import training_loss

EVAL_SEED_OFFSET = 1_000_003  # eval and snapshots draw from their own generators, never the training RNG


class Objective(nn.Module):
    """The model's training pass as a module, so DistributedDataParallel and torch.compile
    can wrap it; `fused` picks the fast path (same numbers as the plain one)."""

    def __init__(self, model: Draw, fused: bool):
        super().__init__()
        self.model = model
        self.fused = fused

    def forward(self, x: Tensor, labels: Tensor | None = None, noise: Tensor | None = None,
                importance: bool = False) -> DrawOutput:
        if self.fused:
            return fused_forward(self.model, x, labels, noise, importance)
        return self.model(x, labels, noise, importance=importance)


@dataclass
class EvalSet:
    images: Tensor  # (N, C, H, W) model input in [0, 1] on the device, binarised once with a fixed seed
    labels: Tensor | None


class Trainer:
    def __init__(
        self,
        config: RunConfig,
        run_dir: Path | None,
        *,
        data: ImageData | None = None,
        dist: DistInfo | None = None,
        download: bool = False,
        progress: Any = None,
    ):
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.dist = dist or DistInfo()
        self.device = self.dist.device or resolve_device(config.train.device)
        prepare(self.device, config.train.threads)
        self.events = Event("record")  # every metrics record, as written to metrics.jsonl

        train = config.train
        shape = (config.model.channels, config.model.height, config.model.width)
        self.data = data or load_dataset(
            train.dataset, train.data_dir, image_size=shape[1:], channels=shape[0], download=download,
            progress=progress,
        )
        self._check_data_fits(shape)
        self.binarize = effective_binarize(self.data, train.binarize)
        self.sampler = EpochSampler(len(self.data.train), train.batch_size, train.seed)
        self.data_generator = torch.Generator().manual_seed(train.seed)

        torch.manual_seed(train.seed)
        try:
            self.model = Draw(config.model).to(self.device)
        except (RuntimeError, MemoryError) as error:  # sizes whose weights cannot be allocated
            problem = ckpt.first_line(str(error), type(error).__name__)
            raise ConfigError(f"the model's sizes are impossible on {self.device} ({problem})") from None
        self.objective: nn.Module = Objective(self.model, train.fused)
        self._seed_per_rank(0)
        self.optimizer = torch.optim.Adam(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=train.lr, betas=(train.adam_beta1, train.adam_beta2),
        )
        self.rate = RateControl(train)
        self.step = 0
        self.elapsed = 0.0  # seconds spent training, over all sessions of the run
        self.resumed_from: Path | None = None
        self.skipped_checkpoints: list[str] = []
        self._eval_sets: dict[str, EvalSet] = {}
        self._last_save = time.monotonic()
        self._metrics: MetricsWriter | None = None
        self._window: list[Tensor] = []

        if self.run_dir is not None:
            self._prepare_run_dir()
        self.objective = self.dist.wrap(self.objective)
        if train.compile:
            self.objective = torch.compile(self.objective)

    # ---- run directory ------------------------------------------------------------

    def _prepare_run_dir(self) -> None:
        assert self.run_dir is not None
        found = ckpt.newest_loadable(self.run_dir, self.device)
        if found is not None:
            path, state, self.skipped_checkpoints = found
            self.load_state(path, state)
            self.resumed_from = path
        if not self.dist.is_writer:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # half-written files of a process killed mid-write: they would pile up, one per kill
            for directory in (self.run_dir, ckpt.checkpoint_dir(self.run_dir)):
                remove_leftover_temp_files(directory)
            config_path = self.run_dir / "config.json"
            # kept current with what may change on resume (steps, device, ...), so it always
            # says how the run is being trained
            if not config_path.exists() or config_path.read_text(errors="replace") != self.config.to_json():
                self.config.save(config_path)
        except OSError as error:
            raise RunDirError(f"{self.run_dir}: cannot write the run directory ({error.strerror or error})") from None
        self._metrics = MetricsWriter(self.run_dir / "metrics.jsonl")
        if self.resumed_from is not None:
            self.record({"kind": "resume", "step": self.step, "checkpoint": self.resumed_from.name})
        elif self._metrics.path.exists() and self._metrics.path.stat().st_size:
            # an earlier session logged steps but died before its first checkpoint: they are
            # lost and will be logged again, so readers must drop them
            self.record({"kind": "resume", "step": 0, "checkpoint": None})

    def _check_data_fits(self, shape: tuple[int, int, int]) -> None:
        if tuple(self.data.shape) != shape:
            raise ConfigError(
                f"dataset {self.data.name!r} has {'x'.join(map(str, self.data.shape))} images "
                f"(channels x height x width); the model is set up for {'x'.join(map(str, shape))}"
            )
        wanted = self.config.model.num_classes
        if wanted and self.data.num_classes != wanted:
            have = self.data.num_classes or "no"
            raise ConfigError(f"num_classes={wanted}: dataset {self.data.name!r} has {have} class labels")
        if self.config.train.batch_size > len(self.data.train):
            raise ConfigError(
                f"batch_size={self.config.train.batch_size} is larger than the {len(self.data.train)} "
                f"training images of {self.data.name!r}"
            )

    # ---- state --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state(), "data": self.data_generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": self.config.to_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **self.rate.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": rng,
        }

    def load_state(self, path: Path, state: dict[str, Any]) -> None:
        """Apply a checkpoint `load_checkpoint` returned. Its values come from a file, so
        anything wrong with them, of whatever kind, is a CheckpointError naming it."""
        stored = ckpt.check_config(path, state)
        if stored.model != self.config.model:
            raise CheckpointError(f"{path}: checkpoint is for a different model ({_model_diff(stored, self.config)})")
        ckpt.check_model_state(path, self.model, state["model"])
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.rate.load_state_dict(state)
            self.sampler.load_state_dict(state["sampler"])
            torch.set_rng_state(state["rng"]["torch"].cpu())
            self.data_generator.set_state(state["rng"]["data"].cpu())
            if "cuda" in state["rng"] and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)
            self.step = int(state["step"])
            self.elapsed = float(state.get("elapsed", 0.0))
            self._seed_per_rank(self.step)
        except Exception as error:
            problem = ckpt.first_line(str(error), type(error).__name__)
            raise CheckpointError(f"{path}: damaged training state ({problem})") from None

    def _seed_per_rank(self, step: int) -> None:
        """Give each rank of a distributed run its own noise and binarisation streams (the
        batch order stays shared); a checkpoint holds rank 0's streams only, so ranks reseed
        from the step on resume. A single process keeps its streams for exact resumes."""
        if not self.dist.active:
            return
        seed = hash((self.config.train.seed, self.dist.rank, step)) & 0x7FFF_FFFF
        torch.manual_seed(seed)
        self.data_generator.manual_seed(seed)

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint now (rank 0 only). Raises RunDirError when it cannot be saved;
        the previous checkpoints are then untouched."""
        self._last_save = time.monotonic()
        if self.run_dir is None or not self.dist.is_writer:
            return None
        try:
            path = ckpt.save_checkpoint(self.run_dir, self.state_dict())
            if self._metrics is not None:
                self._metrics.sync()
        except OSError as error:
            raise RunDirError(
                f"{self.run_dir}: could not save a checkpoint ({error.strerror or error}); "
                "training stopped so that no progress is lost unsaved"
            ) from None
        self.record({"kind": "checkpoint", "step": self.step, "file": path.name})
        return path

    def record(self, record: dict[str, Any]) -> None:
        if self._metrics is not None:
            try:
                self._metrics.write(record)
            except OSError as error:
                raise RunDirError(f"{self._metrics.path}: cannot append metrics ({error.strerror or error})") from None
        self.events.emit(record)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()

    # ---- schedule -----------------------------------------------------------------

    def change_schedule(self, lr: float | None = None, decay: float | None = None, every: int | None = None) -> None:
        """Queue a learning-rate change for the next step (safe from any thread)."""
        self.rate.request(lr, decay, every)

    @property
    def segments(self) -> list[Segment]:
        return self.rate.segments

    @property
    def lr(self) -> float:
        return self.rate.lr(self.step)

    @property
    def epoch(self) -> float:
        return self.step * self.config.train.batch_size / len(self.data.train)

    @property
    def finished(self) -> bool:
        return self.step >= self.config.train.steps

    # ---- training -----------------------------------------------------------------

    def batch(self) -> tuple[Tensor, Tensor | None]:
        """This rank's share of the next global batch, as model input on the device."""
        indices = self.dist.shard(self.sampler.next_indices())
        images = self.data.train.images(indices, self.data_generator)
        x = to_model_input(images, self.binarize, self.data_generator, self.device)
        labels = self.data.train.labels(indices) if self.config.model.num_classes else None
        return x, None if labels is None else labels.to(self.device)

    def train_step(self) -> dict[str, Any] | None:
        """One optimiser step. Returns the metrics record when this step is logged.
        Raises NonFiniteError, leaving weights and optimiser state untouched."""
        for change in self.rate.apply_requests(self.step):
            self.record(change)
        lr = self.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start = time.perf_counter()
        x, labels = self.batch()
        with _memory_guard(f"a training step at batch_size={self.config.train.batch_size}"):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.train.amp):
                out = self.objective(x, labels)
            bound = out.loss.mean()
            self.optimizer.zero_grad(set_to_none=True)
            training_loss(out, self.step, self.config.train.kl_warmup_steps).backward()
        clip = self.config.train.grad_clip or math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], clip)
        stats = torch.cat([torch.stack([bound.detach(), out.recon.detach().mean(), grad_norm]),
                           out.kl.detach().mean(0)])
        if not bool(torch.isfinite(stats[:3]).all()):  # the one host sync of a step
            self.optimizer.zero_grad(set_to_none=True)
            values = stats[:3].tolist()
            self.record({"kind": "nonfinite", "step": self.step, "loss": values[0], "grad_norm": values[2]})
            raise NonFiniteError(
                f"step {self.step}: the {'loss' if not math.isfinite(values[0]) else 'gradient'} is not finite "
                f"(loss {values[0]}, gradient norm {values[2]}); the weights were not updated. "
                "Lower the learning rate and continue."
            )
        self.optimizer.step()
        self.step += 1
        seconds = time.perf_counter() - start
        self.elapsed += seconds
        self._window.append(stats)
        if self.step % self.config.train.log_every and not self.finished:
            return None
        return self._log(lr, seconds)

    def _log(self, lr: float, seconds: float) -> dict[str, Any]:
        mean = self.dist.average(torch.stack(self._window).mean(0)).tolist()
        self._window = []
        loss, recon, grad_norm, *kl_t = mean
        record = {
            "kind": "train", "step": self.step, "epoch": round(self.epoch, 4), "time": time.time(),
            "elapsed": round(self.elapsed, 3), "loss": loss, "recon": recon, "kl": sum(kl_t), "kl_t": kl_t,
            "grad_norm": grad_norm, "lr": lr, "images_per_s": self.config.train.batch_size / seconds,
        }
        self.record(record)
        return record

    def advance(self) -> None:
        """One step plus whatever falls due after it: the periodic test NLL, the autosave,
        and the final checkpoint when the run reaches its step count."""
        every = self.config.train.eval_every
        if every and self.step == 0:  # the untrained model's bound starts the curve
            self._periodic_eval()
        self.train_step()
        if every and self.step % every == 0:
            self._periodic_eval()
        if self.finished or time.monotonic() - self._last_save >= self.config.train.autosave_seconds:
            self.save_checkpoint()

    # ---- evaluation ---------------------------------------------------------------

    def _periodic_eval(self) -> None:
        """The test bound and, when the dataset has one, the validation bound, which is then the
        one the plateau rule watches (the test number is the one reported, not tuned on)."""
        watched = self.evaluate("test", self.config.train.eval_images)
        if self.data.valid is not None:
            watched = self.evaluate("valid", self.config.train.eval_images)
        change = self.rate.observe(self.step, watched["split"], watched["nll"])
        if change is not None:
            self.record(change)

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
    def evaluate(self, split: str = "test", max_images: int | None = None, iw_samples: int = 1,
                 batch_size: int = 1000, log: bool = True) -> dict[str, Any]:
        """The test-set bound in nats per image: reconstruction + KL (the paper's number) and,
        with iw_samples K > 1, the importance-weighted bound log (1/K) Σ p(x, z_k)/q(z_k|x)."""
        data = self.eval_set(split)
        count = len(data.images) if max_images is None else min(max_images, len(data.images))
        generator = torch.Generator(self.device).manual_seed(self.config.train.seed + EVAL_SEED_OFFSET)
        per_batch = max(1, batch_size // iw_samples)
        sums = torch.zeros(4, dtype=torch.float64)
        start = time.perf_counter()
        for first in range(0, count, per_batch):
            last = min(first + per_batch, count)
            x = data.images[first:last]
            labels = None if data.labels is None else data.labels[first:last]
            with _memory_guard(f"evaluation in batches of {per_batch} x {iw_samples} samples"):
                bound, recon, kl, iw = self._bounds(x, labels, iw_samples, generator)
            sums += torch.stack([bound.sum(), recon.sum(), kl.sum(), iw.sum()]).double().cpu()
        bound, recon, kl, iw = (sums / count).tolist()
        record: dict[str, Any] = {
            "kind": "eval", "split": split, "step": self.step, "nll": bound, "recon": recon, "kl": kl,
            "images": count, "seconds": round(time.perf_counter() - start, 3),
        }
        if iw_samples > 1:
            record.update(iw_nll=iw, iw_samples=iw_samples)
        if log:
            self.record(record)
        return record

    def _bounds(self, x: Tensor, labels: Tensor | None, k: int, generator: torch.Generator
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per image: the bound, its reconstruction and KL parts, and the K-sample IW bound."""
        c = self.config.model
        repeated = x.repeat(k, 1, 1, 1)  # (K·B, C, H, W), sample k of image b at k·B + b
        repeated_labels = None if labels is None else labels.repeat(k)
        noise = torch.randn(c.T, repeated.shape[0], c.z_size, device=self.device, generator=generator)
        out = fused_forward(self.model, repeated, repeated_labels, noise, importance=k > 1)
        batch = x.shape[0]
        bound = out.loss.view(k, batch)
        recon = out.recon.view(k, batch).mean(0)
        kl = out.kl.sum(1).view(k, batch).mean(0)
        if k == 1:
            return bound[0], recon, kl, bound[0]
        iw = importance_weighted_nll(out.recon.view(k, batch), out.log_ratio.view(k, batch))
        return bound.mean(0), recon, kl, iw

    # ---- what the studio shows ---------------------------------------------------------

    @torch.no_grad()
    def snapshot(self, n_recon: int = 16, n_samples: int = 16, sample_labels: list[int] | None = None) -> Snapshot:
        """Reconstructions of a fixed test batch and samples from fixed prior noise, with every
        step's canvas and attention, so successive snapshots show the same images learning."""
        c = self.config.model
        data = self.eval_set("test")
        n_recon = min(n_recon, len(data.images))
        x = data.images[:n_recon]
        labels = None if data.labels is None else data.labels[:n_recon]
        generator = torch.Generator(self.device).manual_seed(self.config.train.seed + 2 * EVAL_SEED_OFFSET)
        noise = torch.randn(c.T, n_recon, c.z_size, device=self.device, generator=generator)
        out = self.model(x, labels, noise, record=True)
        trace = out.trace
        assert trace is not None
        wanted = None
        if c.num_classes:
            classes = sample_labels or [i % c.num_classes for i in range(n_samples)]
            n_samples = len(classes)
            wanted = torch.tensor(classes, device=self.device)
        sample_noise = torch.randn(c.T, n_samples, c.z_size, device=self.device, generator=generator)
        samples, sample_write = self.model.generate(n_samples, wanted, sample_noise)
        return Snapshot(
            step=self.step,
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


@contextmanager
def _memory_guard(what: str) -> Iterator[None]:
    """Turn running out of memory into a user error that says what needed it."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise ConfigError(f"out of GPU memory during {what}; use a smaller batch or model") from None
    except RuntimeError as error:
        if "can't allocate memory" not in str(error) and "not enough memory" not in str(error):
            raise
        raise ConfigError(f"out of memory during {what}; use a smaller batch or model") from None


def _model_diff(stored: RunConfig, wanted: RunConfig) -> str:
    diffs = [
        f"{name}={getattr(stored.model, name)!r} there, {getattr(wanted.model, name)!r} here"
        for name in stored.model.__dataclass_fields__
        if getattr(stored.model, name) != getattr(wanted.model, name)
    ]
    return "; ".join(diffs[:4])
