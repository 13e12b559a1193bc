"""Run configuration: what model to build and how to train it.

Two dataclasses with commented defaults (the paper's MNIST attention model), a
`RunConfig` that holds both, and strict parsing from JSON: a wrong type, an unknown key
or an impossible value raises `ConfigError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drawstudio.errors import ConfigError

BINARIZE_MODES = ("dynamic", "threshold", "none")
LIKELIHOODS = ("bernoulli", "logistic")


@dataclass
class ModelConfig:
    channels: int = 1  # image channels: 1 (grey) or 3 (colour)
    height: int = 28  # image height in pixels (B in the paper)
    width: int = 28  # image width in pixels (A in the paper)
    T: int = 64  # drawing steps (glimpses); paper MNIST: 64
    attention: bool = True  # selective attention read/write (paper §3.2); False: whole image (eq. 17-18)
    read_n: int = 2  # read grid is N×N filters; paper MNIST: 2
    write_n: int = 5  # write patch is N×N; paper MNIST: 5
    enc_size: int = 256  # encoder LSTM units; paper MNIST: 256
    dec_size: int = 256  # decoder LSTM units; paper MNIST: 256
    z_size: int = 100  # latent units per step; paper MNIST: 100
    read_stride_init: float = 0.5  # initial read stride, as a share of the stride spanning the image (δ̃, eq. 24)
    read_sigma_init: float = 0.16  # initial read filter σ in read strides (2.2 px on MNIST); 0: σ² = 1
    write_sigma_init: float = 0.25  # initial write filter σ in write strides (1.7 px on MNIST); 0: σ² = 1
    read_gamma_init: float = 50.0  # initial read γ: glimpses that differ between images (fast start); 1: old
    write_gamma_init: float = 0.02  # initial write γ (the write divides by it): writes that show early; 1: old
    canvas_init: float = 0.0  # initial canvas logit c_0; 0 draws on grey (sigmoid(0) = 0.5)
    learn_canvas: bool = False  # learn c_0 per pixel (starting from canvas_init)
    num_classes: int = 0  # > 0: conditional DRAW, the one-hot label feeds encoder and decoder
    likelihood: str = "bernoulli"  # "bernoulli" for binary/grey images, "logistic" for colour intensities
    layer_norm: bool = False  # layer-normalised LSTMs (Ba et al. 2016), a variant beyond the paper; plain path only

    def validate(self) -> None:
        _require(self.channels in (1, 3), "channels", self.channels, "must be 1 (grey) or 3 (colour)")
        for name in ("height", "width", "T", "read_n", "write_n", "enc_size", "dec_size", "z_size"):
            _require(getattr(self, name) >= 1, name, getattr(self, name), "must be at least 1")
        _require(self.num_classes >= 0, "num_classes", self.num_classes, "must be 0 (unconditional) or more")
        _require(self.num_classes != 1, "num_classes", 1, "a conditional model needs at least 2 classes")
        _require(math.isfinite(self.canvas_init), "canvas_init", self.canvas_init, "must be a finite number")
        _require(math.isfinite(self.read_stride_init) and self.read_stride_init > 0, "read_stride_init",
                 self.read_stride_init, "must be a positive share of the stride spanning the image")
        for name in ("read_sigma_init", "write_sigma_init"):
            _require(math.isfinite(getattr(self, name)) and getattr(self, name) >= 0, name, getattr(self, name),
                     "must be 0 (σ² = 1) or a positive number of strides")
        for name in ("read_gamma_init", "write_gamma_init"):
            _require(math.isfinite(getattr(self, name)) and getattr(self, name) > 0, name, getattr(self, name),
                     "must be a positive number")
        _require(self.likelihood in LIKELIHOODS, "likelihood", self.likelihood, f"must be one of {LIKELIHOODS}")
        if self.attention:
            smallest = min(self.height, self.width)
            for name in ("read_n", "write_n"):
                n = getattr(self, name)
                _require(n <= smallest, name, n, f"a {n}x{n} grid does not fit a {self.height}x{self.width} image")

    @property
    def read_size(self) -> int:
        """Values the read hands to the encoder: two N×N glimpses (x and x̂) per channel."""
        if self.attention:
            return 2 * self.channels * self.read_n * self.read_n
        return 2 * self.channels * self.height * self.width

    @property
    def write_size(self) -> int:
        """Values the decoder's write layer emits: an N×N patch or the whole image."""
        if self.attention:
            return self.channels * self.write_n * self.write_n
        return self.channels * self.height * self.width


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # mnist, fashion-mnist, binarized-mnist, two-digit-mnist, or a folder of images
    data_dir: str | None = None  # where to look for dataset files; None: the usual places
    binarize: str = "dynamic"  # dynamic: Bernoulli per batch; threshold: pixel > 125; none: intensities
    batch_size: int = 64  # images per step (summed over ranks when distributed)
    lr: float = 1e-3  # Adam learning rate at step 0; a new run without one gets start_lr(T)
    lr_decay: float = 1.0  # lr = lr0 * lr_decay ** ((step - decay_start) / decay_every); 1.0 keeps it constant
    decay_every: int = 1000  # steps over which the learning rate shrinks by lr_decay
    decay_start: int = 0  # the decay begins at this step; the rate holds at lr until then
    plateau_factor: float = 0.5  # multiply the rate by this when the held-out bound stalls (1: never)
    plateau_patience: int = 2  # ... after this many evaluations in a row without a new best; 0: rule off
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    kl_warmup_steps: int = 300  # KL weight rises 0 → 1 over these first steps (gradient only; logs stay the bound)
    grad_clip: float = 10.0  # clip the global gradient norm to this; 0 disables clipping
    ema_decay: float = 0.0  # evaluate a moving average of the weights, w̄ ← d·w̄ + (1 − d)·w a step; 0: off
    steps: int = 10000  # train until this global step
    eval_every: int = 1000  # test-set NLL every this many steps; 0: only when asked
    eval_images: int = 10000  # images per periodic NLL: a fixed random subset of the split when fewer
    autosave_seconds: float = 180.0  # write a checkpoint at least this often while training
    log_every: int = 1  # metrics line every this many steps (averaged over them)
    seed: int = 0
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    threads: int = 0  # CPU threads for training; 0: one per core other processes leave free (system/threads.py)
    compile: bool = False  # torch.compile the drawing step (worth it on a GPU)
    amp: bool = False  # bf16 LSTM and linear products, the rest fp32 (GPUs; CPUs with native bf16)
    fused: bool = True  # the fused fast path (same model; False runs the plain reference code)
    tensorboard: str | None = None  # TensorBoard log folder (a relative one is inside the run); None: none

    def validate(self) -> None:
        _require(self.binarize in BINARIZE_MODES, "binarize", self.binarize, f"must be one of {BINARIZE_MODES}")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "must be at least 1")
        validate_schedule(self.lr, self.lr_decay, self.decay_every, self.decay_start)
        _require(math.isfinite(self.plateau_factor) and 0 < self.plateau_factor <= 1, "plateau_factor",
                 self.plateau_factor, "must be in (0, 1]")
        _require(self.plateau_patience >= 0, "plateau_patience", self.plateau_patience, "must be 0 (off) or more")
        for name in ("adam_beta1", "adam_beta2"):
            beta = getattr(self, name)
            _require(0 <= beta < 1, name, beta, "must be in [0, 1)")
        _require(math.isfinite(self.grad_clip) and self.grad_clip >= 0, "grad_clip", self.grad_clip,
                 "must be 0 (off) or a positive number")
        _require(0 <= self.ema_decay < 1, "ema_decay", self.ema_decay, "must be in [0, 1): 0 is off")
        _require(self.kl_warmup_steps >= 0, "kl_warmup_steps", self.kl_warmup_steps, "must be 0 (off) or more")
        _require(self.steps >= 0, "steps", self.steps, "must be 0 or more")
        _require(self.eval_every >= 0, "eval_every", self.eval_every, "must be 0 (off) or more")
        _require(self.eval_images >= 1, "eval_images", self.eval_images, "must be at least 1")
        _require(self.autosave_seconds > 0, "autosave_seconds", self.autosave_seconds, "must be positive")
        _require(self.log_every >= 1, "log_every", self.log_every, "must be at least 1")
        # torch seeds are 64-bit; the eval and snapshot generators add small offsets to it
        _require(-(2**63) <= self.seed < 2**63, "seed", self.seed, "must fit in 64 bits")
        _require(self.threads >= 0, "threads", self.threads, "must be 0 (default) or more")
        _require(bool(self.dataset), "dataset", self.dataset, "must name a dataset or a folder")
        _require(self.tensorboard is None or bool(self.tensorboard.strip()), "tensorboard", self.tensorboard,
                 "must name a folder, or be null for no TensorBoard logs")
        device_ok = self.device in ("auto", "cpu", "cuda") or (
            self.device.startswith("cuda:") and self.device[5:].isdigit()
        )
        _require(device_ok, "device", self.device, "must be auto, cpu, cuda or cuda:N")


def start_lr(T: int) -> float:
    """The learning rate a new run starts at when none is given, by its number of drawing steps:
    3e-3 up to T = 16, falling as 48/T to 1e-3 at T = 48 and beyond. Short models learn fastest
    at 3e-3 (T = 16, 600 steps: 126 nats against 148 at 1e-3), while the paper's T = 64 model
    spikes and diverges above 1e-3 (docs/experiments/first-minute.md)."""
    return 1e-3 * min(3.0, max(1.0, 48 / max(T, 1)))  # T < 1 is refused by validation, not here


def validate_schedule(lr: float | None, decay: float | None, every: int | None, decay_start: int | None = None
                      ) -> None:
    """The learning-rate settings, for a new run and for a change to a running one (None: unchanged)."""
    if lr is not None:
        _require(math.isfinite(lr) and lr > 0, "lr", lr, "must be a positive number")
    if decay is not None:
        _require(math.isfinite(decay) and 0 < decay <= 1, "lr_decay", decay, "must be in (0, 1]")
    if every is not None:
        _require(every >= 1, "decay_every", every, "must be at least 1")
    if decay_start is not None:
        _require(decay_start >= 0, "decay_start", decay_start, "must be 0 (decay from the start) or more")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        self.model.validate()
        self.train.validate()
        if self.model.likelihood == "bernoulli" and self.model.channels == 3 and self.train.binarize != "none":
            raise ConfigError("binarize: colour images need binarize 'none' (use the logistic likelihood)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> RunConfig:
        """Parse and validate; errors name `source` (a file path or 'config') and the field."""
        _check_sections(data, source)
        try:
            config = cls(
                model=_dataclass_from_dict(ModelConfig, upgrade_model_section(data.get("model", {})), "model"),
                train=_dataclass_from_dict(TrainConfig, data.get("train", {}), "train"),
            )
            config.validate()
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        return config

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: Path) -> None:
        from drawstudio.system.atomic import atomic_write_bytes

        atomic_write_bytes(path, self.to_json().encode())

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return cls.from_dict(_read_json(path), str(path))

    @classmethod
    def settings_in(cls, path: Path, under: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """The settings a config file holds, section by section, without the defaults `load`
        fills in: a partial file laid over a preset changes only what it names. Checked as
        `load` checks them, laid over `under` (a RunConfig dict; the defaults when None), so a
        file that fits only the settings it is laid over is not refused."""
        data = _read_json(path)
        _check_sections(data, str(path))
        written = {"model": upgrade_model_section(data.get("model", {})), "train": data.get("train", {})}
        base = cls().to_dict() if under is None else under
        cls.from_dict({name: {**base[name], **section} if isinstance(section, dict) else section
                       for name, section in written.items()}, str(path))
        return written


def _check_sections(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object with 'model' and 'train', got {type(data).__name__}")
    unknown = set(data) - {"model", "train"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {brief(sorted(unknown, key=str))}; expected 'model' and 'train'")


def _read_json(path: Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({_reason(error)})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except ValueError:  # Python refuses to convert integers of thousands of digits
        raise ConfigError(f"{path}: holds a number with too many digits") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config") from None
    return data


def upgrade_model_section(model: Any) -> Any:
    """A model section written before the read's initial grid had settings of its own: its one
    `attention_sigma_init` set both filters' width, on the grid spanning the image, and a section
    older still has no intensities either, which started at 1 then. Those runs reopen with the
    initialisation they were made with."""
    if not isinstance(model, dict) or "attention_sigma_init" not in model:
        return model
    upgraded = {key: value for key, value in model.items() if key != "attention_sigma_init"}
    sigma = model["attention_sigma_init"]
    for name, value in (("read_sigma_init", sigma), ("write_sigma_init", sigma), ("read_stride_init", 1.0),
                        ("read_gamma_init", 1.0), ("write_gamma_init", 1.0)):
        upgraded.setdefault(name, value)
    return upgraded


def brief(value: Any, limit: int = 80) -> str:
    """`repr(value)` for a one-line message: whitespace runs (a tensor's repr spans lines)
    collapsed, cut to `limit` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _require(ok: bool, name: str, value: Any, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={brief(value)} {problem}")


def _reason(error: OSError | UnicodeDecodeError) -> str:
    return getattr(error, "strerror", None) or str(error)


def _dataclass_from_dict(cls: type, data: Any, section: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{section}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{section}: unknown field(s) {brief(sorted(unknown, key=str))}")
    values = {}
    for name, value in data.items():
        values[name] = _check_type(value, hints[name], f"{section}.{name}")
    return cls(**values)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return None
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and abs(value) > sys.float_info.max:
                raise ConfigError(f"{where}: a {len(str(abs(value)))}-digit number is beyond the float range")
            return float(value)
        if kind is str and isinstance(value, str):
            return value
    names = " or ".join("null" if k is type(None) else k.__name__ for k in allowed)
    raise ConfigError(f"{where}: expected {names}, got {type(value).__name__} {brief(value)}")
