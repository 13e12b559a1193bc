"""The trainer: one run's model, optimiser, data, schedule and run directory.

It knows nothing of threads: every call comes from the one thread that trains, the CLI's
main thread or `TrainingSession`'s training thread (which runs other threads' requests as
commands between steps). The learning rate lives in `RateControl` (`self.rate`), which also
runs the plateau rule on the periodic evaluations.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from drawstudio.config import RunConfig
from drawstudio.data import load_dataset
from drawstudio.data.base import ImageData, ImageSet
from drawstudio.data.batches import EpochSampler, effective_binarize, to_model_input
from drawstudio.errors import CheckpointError, ConfigError, NonFiniteError, RunDirError
from drawstudio.events import Event
from drawstudio.model.draw import Draw
from drawstudio.system.atomic import remove_leftover_temp_files
from drawstudio.system.devices import prepare, resolve_device
from drawstudio.system.threads import ThreadGovernor
from drawstudio.train import checkpoint as ckpt
from drawstudio.train import schedule
from drawstudio.train.averaging import WeightAverage
from drawstudio.train.distributed import DistInfo
from drawstudio.train.evaluation import EvalSet, Evaluation
from drawstudio.train.history import HISTORY_SIZE, HistoryWriter
from drawstudio.train.memory import memory_guard
from drawstudio.train.metrics import MetricsWriter
from drawstudio.train.objective import Objective
from drawstudio.train.rate_control import RateControl
from drawstudio.train.run_lock import RunLock
from drawstudio.train.schedule import Segment
from drawstudio.train.snapshot import Snapshot
from drawstudio.train.warmup import training_loss


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
        threads = self.dist.threads or config.train.threads  # a `--ranks` rank's share of the cores
        prepare(self.device, threads)
        self.threads = ThreadGovernor(threads)
        self.events = Event("record")  # every metrics record, as written to metrics.jsonl

        train = config.train
        shape = (config.model.channels, config.model.height, config.model.width)
        self.data = data or load_dataset(
            train.dataset, train.data_dir, image_size=shape[1:], channels=shape[0], download=download,
            progress=progress,
        )
        self.data.check_trainable(shape, config.model.num_classes, train.batch_size)
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
        # the same pass as training, never wrapped for distribution or compiled
        self.evaluation = Evaluation(self.objective, config, self.data, self.binarize, self.device, self.dist)
        self._seed_per_rank(0)
        self.optimizer = torch.optim.Adam(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=train.lr, betas=(train.adam_beta1, train.adam_beta2),
        )
        self._optimizer_settings = ckpt.optimizer_settings(self.optimizer)  # what a checkpoint must restore
        self.average = WeightAverage(self.model, train.ema_decay)  # what is evaluated, drawn and kept
        self.rate = RateControl(train)
        self.step = 0
        self.elapsed = 0.0  # seconds spent training, over all sessions of the run
        self.resumed_from: Path | None = None
        self.skipped_checkpoints: list[str] = []
        self._last_save = time.monotonic()
        self._metrics: MetricsWriter | None = None
        self.history: HistoryWriter | None = None
        self._lock: RunLock | None = None
        self._window: list[Tensor] = []

        if self.run_dir is not None:
            try:
                self._prepare_run_dir()
            except BaseException:
                self.close()  # the run's lock, at once: not when the exception's frames are freed
                raise
        self.objective = self.dist.wrap(self.objective)
        if train.compile:
            self.objective = torch.compile(self.objective)

    # ---- run directory ------------------------------------------------------------

    def _prepare_run_dir(self) -> None:
        assert self.run_dir is not None
        if self.dist.is_writer:
            # before anything below: a second writer would trim the first's history, remove its
            # temp files mid-write and append to its metrics
            self._lock = RunLock(self.run_dir)
        found = ckpt.newest_loadable(self.run_dir, self.device)
        if found is not None:
            path, state, self.skipped_checkpoints = found
            self.load_state(path, state)
            self.resumed_from = path
        if not self.dist.is_writer:
            return
        try:
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
        self.history = HistoryWriter(self.run_dir, self.step)
        if self.resumed_from is not None:
            # the schedule as restored: changes recorded after the checkpoint were lost with the kill
            self.record({"kind": "resume", "step": self.step, "checkpoint": self.resumed_from.name,
                         "schedule": schedule.to_list(self.rate.segments)})
        elif self._metrics.path.exists() and self._metrics.path.stat().st_size:
            # an earlier session logged steps but died before its first checkpoint: they are
            # lost and will be logged again, so readers must drop them
            self.record({"kind": "resume", "step": 0, "checkpoint": None})

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
            **({"average": self.average.average} if self.average.average is not None else {}),
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
            differences = ckpt.model_differences(stored.model, self.config.model)
            raise CheckpointError(f"{path}: checkpoint is for a different model ({differences})")
        ckpt.check_model_state(path, self.model, state["model"])
        try:
            self.model.load_state_dict(state["model"])
            if self.average.average is not None and state.get("average") is not None:
                ckpt.check_model_state(path, self.model, state["average"])
            self.average.load(state.get("average"))
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
        ckpt.check_optimizer_state(path, self.optimizer, self.step, self._optimizer_settings)

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
            reason = error.strerror or error if self.run_dir.is_dir() else "the run directory is gone"
            raise RunDirError(
                f"{self.run_dir}: could not save a checkpoint ({reason}); "
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
        """Stop writing the run: close the metrics, let another process train the run, and drop
        the distributed wrapper, which holds the process group: freed at interpreter exit
        instead, after the group is destroyed, gloo's threads abort a successful run now and then
        (SIGABRT). Closing twice is harmless."""
        if self._metrics is not None:
            self._metrics.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.objective = self.evaluation.objective

    # ---- ranks ---------------------------------------------------------------------

    def join_ranks(self, dist: DistInfo) -> None:
        """Train from the next step on as rank `dist.rank` of the process group `dist` describes,
        which every rank joins with the same state (drawstudio/train/rank_team.py)."""
        self.dist = self.evaluation.dist = dist
        self.threads = ThreadGovernor(dist.threads or self.config.train.threads)
        self._seed_per_rank(self.step)
        self.objective = dist.wrap(self.evaluation.objective)

    def leave_ranks(self) -> None:
        """Train in this process alone again. The distributed wrapper is dropped here, before the
        process group is destroyed (see `close`)."""
        self.objective = self.evaluation.objective
        self.dist = self.evaluation.dist = DistInfo()
        self.threads = ThreadGovernor(self.config.train.threads)

    # ---- schedule -----------------------------------------------------------------

    def change_schedule(self, lr: float | None = None, decay: float | None = None, every: int | None = None) -> None:
        """Change the learning-rate schedule from the current step on (the next step trains with
        it), and record the change; an impossible value raises ConfigError and changes nothing."""
        self.record(self.rate.change(self.step, lr, decay, every))

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

    def train_step(self, lr: float | None = None) -> dict[str, Any] | None:
        """One optimiser step, at the rate `lr` (None: this trainer's own schedule). Returns the
        metrics record when this step is logged. Raises NonFiniteError, leaving weights and
        optimiser state untouched."""
        self.threads.adjust()
        lr = self.lr if lr is None else lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start = time.perf_counter()
        x, labels = self.batch()
        with memory_guard(f"a training step at batch_size={self.config.train.batch_size}"):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.train.amp):
                out = self.objective(x, labels)
            bound = out.loss.mean()
            self.optimizer.zero_grad(set_to_none=True)
            training_loss(out, self.step, self.config.train.kl_warmup_steps).backward()
        clip = self.config.train.grad_clip or math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], clip)
        stats = torch.cat([torch.stack([bound.detach(), out.recon.detach().mean(), grad_norm]),
                           out.kl.detach().mean(0)])
        finite = bool(torch.isfinite(stats[:3]).all())  # the one host sync of a step
        if self.dist.any_rank(not finite):  # every rank skips the step, or their weights would part
            self.optimizer.zero_grad(set_to_none=True)
            values = stats[:3].tolist()
            self.record({"kind": "nonfinite", "step": self.step, "loss": values[0], "grad_norm": values[2]})
            what = "loss" if not math.isfinite(values[0]) else "gradient" if not finite else "loss of another rank"
            raise NonFiniteError(
                f"step {self.step}: the {what} is not finite "
                f"(loss {values[0]}, gradient norm {values[2]}); the weights were not updated. "
                "Lower the learning rate and continue."
            )
        self.optimizer.step()
        self.average.update()
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
            "threads": self.threads.threads, "ranks": self.dist.world_size,  # threads per rank
        }
        self.record(record)
        return record

    def advance(self, lr: float | None = None) -> None:
        """One step (at the rate `lr`, as `train_step`) plus whatever falls due after it: the
        periodic test NLL, the autosave, and the final checkpoint when the run reaches its step count."""
        every = self.config.train.eval_every
        if every and self.step == 0:  # the untrained model's bound starts the curve
            self._periodic_eval()
        self.train_step(lr)
        if self.history is not None:
            self.history.after_step(self.step, lambda: self.snapshot(*HISTORY_SIZE))
        if every and self.step % every == 0:
            self._periodic_eval()
        if self.finished or time.monotonic() - self._last_save >= self.config.train.autosave_seconds:
            self.save_checkpoint()

    # ---- evaluation ---------------------------------------------------------------

    def _periodic_eval(self) -> None:
        """The test bound and, when the dataset has one, the validation bound, which is then the
        one the plateau rule watches (the test number is the one reported, not tuned on)."""
        held_out = "valid" if self.data.valid is not None else "test"
        if held_out == "valid":
            self.evaluate("test", self.config.train.eval_images)
        watched = self.evaluate(held_out, self.config.train.eval_images, log=False)
        change = self.rate.observe(self.step, held_out, watched["nll"], watched["images"])
        watched["plateau_stale"] = self.rate.plateau.stale  # evaluations without a new best, for the studio
        self.record(watched)
        if change is not None:
            self.record(change)

    def split(self, name: str) -> ImageSet:
        return self.evaluation.split(name)

    def eval_set(self, name: str) -> EvalSet:
        return self.evaluation.eval_set(name)

    def evaluate(self, split: str = "test", max_images: int | None = None, iw_samples: int = 1,
                 batch_size: int = 1000, log: bool = True) -> dict[str, Any]:
        """The bound on `split` at the current step (see `Evaluation.evaluate`), recorded in the
        metrics unless `log` is False."""
        with self.average.applied():
            record = self.evaluation.evaluate(self.step, split, max_images, iw_samples, batch_size)
        if self.average.average is not None:
            record["ema_decay"] = self.average.decay  # the bound of the averaged weights
        if log:
            self.record(record)
        return record

    def snapshot(self, n_recon: int = 16, n_samples: int = 16, sample_labels: list[int] | None = None) -> Snapshot:
        with self.average.applied():
            return self.evaluation.snapshot(self.step, n_recon, n_samples, sample_labels)
