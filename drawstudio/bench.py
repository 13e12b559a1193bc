"""`drawstudio bench`: how fast DRAW trains, evaluates and samples here, against the
machine's own matmul peak.

Model FLOPs are counted from the layer shapes (matrix products only: every linear layer,
the LSTM gate products and the attention filterbank products; elementwise work is not
counted), and a training step is taken as 3× the forward pass (the backward does two
products per forward product). Model FLOP utilisation (MFU) = achieved model FLOP/s ÷ the
fp32 peak measured in the same run as the best of several large square matmuls. Each
measurement runs in a fresh process, so its peak memory (max RSS on the CPU, allocator
peak on CUDA) is its own.
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from drawstudio.config import ModelConfig
from drawstudio.devices import describe, prepare, resolve_device


@dataclass
class Result:
    batch_size: int
    train_images_per_s: float
    train_gflops: float  # achieved model GFLOP/s in training
    mfu: float  # train_gflops / peak
    eval_images_per_s: float
    peak_memory_mb: float


def forward_flops_per_image(c: ModelConfig) -> int:
    """Matrix-product FLOPs (2 per multiply-add) of one image's forward pass over all T steps."""
    linear = _linear_flops
    step = linear(c.read_size + c.dec_size + c.num_classes, 4 * c.enc_size) + linear(c.enc_size, 4 * c.enc_size)
    step += linear(c.enc_size, 2 * c.z_size)  # Q(z | h_enc)
    step += linear(c.z_size + c.num_classes, 4 * c.dec_size) + linear(c.dec_size, 4 * c.dec_size)
    step += linear(c.dec_size, c.write_size)
    if c.attention:
        h, w, ch = c.height, c.width, c.channels
        step += 2 * linear(c.dec_size, 5)  # read and write attention parameters
        n = c.read_n
        step += 2 * (2 * ch) * (n * h * w + n * w * n)  # F_Y x F_Xᵀ for x and x̂
        n = c.write_n
        step += 2 * ch * (h * n * n + h * n * w)  # F_Yᵀ w F_X
    return c.T * step


def _linear_flops(n_in: int, n_out: int) -> int:
    return 2 * n_in * n_out


def train_flops_per_image(c: ModelConfig) -> int:
    return 3 * forward_flops_per_image(c)


def matmul_peak_gflops(device: torch.device, seconds: float = 3.0) -> float:
    """Best fp32 GFLOP/s of large square matmuls (sizes 2048 and 4096, repeated)."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    for size in (2048, 4096, 2048, 4096):
        a = torch.randn(size, size, device=device)
        b = torch.randn(size, size, device=device)
        a @ b
        for _ in range(3):
            _sync(device)
            start = time.perf_counter()
            a @ b
            _sync(device)
            best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
        if time.perf_counter() > deadline:
            break
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(config: ModelConfig, batch_size: int, device_name: str, steps: int, compile_model: bool,
             queue: Any) -> None:
    """Runs in a child process: training, evaluation and memory for one batch size."""
    from drawstudio.model.draw import Draw
    from drawstudio.model.fused import fused_forward

    device = resolve_device(device_name)
    prepare(device)
    torch.manual_seed(0)
    model = Draw(config).to(device)
    forward = torch.compile(fused_forward) if compile_model else fused_forward
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = (torch.rand(batch_size, config.channels, config.height, config.width, device=device) > 0.5).float()
    labels = torch.zeros(batch_size, dtype=torch.long, device=device) if config.num_classes else None

    def train_step() -> None:
        loss = forward(model, x, labels).loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()

    train = _timed(train_step, steps, device)
    with torch.no_grad():
        evaluate = _timed(lambda: forward(model, x, labels).loss.sum(), steps, device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    queue.put((batch_size / train, batch_size / evaluate, peak))


def _timed(step: Any, repeats: int, device: torch.device) -> float:
    """Median seconds per call after two warm-up calls."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _in_child(target: Any, *args: Any) -> Any:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def _sample(config: ModelConfig, device_name: str, n: int, repeats: int, queue: Any) -> None:
    from drawstudio.model.draw import Draw

    device = resolve_device(device_name)
    prepare(device)
    model = Draw(config).to(device)
    queue.put(_timed(lambda: model.generate(n), repeats, device))


def run(batch_sizes: list[int], steps: int = 5, device_name: str = "auto", compile_model: bool = False,
        config: ModelConfig | None = None, progress: Any = print) -> dict[str, Any]:
    config = config or ModelConfig()
    device = resolve_device(device_name)
    progress(f"measuring the fp32 matmul peak on {describe(device)} ...")
    peak = matmul_peak_gflops(device)
    per_image = train_flops_per_image(config)
    results = []
    for batch_size in batch_sizes:
        progress(f"batch {batch_size}: {steps} timed training and evaluation steps ...")
        train_ips, eval_ips, memory = _in_child(_measure, config, batch_size, device_name, steps, compile_model)
        gflops = train_ips * per_image / 1e9
        results.append(Result(batch_size, train_ips, gflops, gflops / peak, eval_ips, memory))
    progress("sampling a 64-image animation ...")
    sample_seconds = _in_child(_sample, config, device_name, 64, max(steps, 5))
    return {
        "machine": {"device": describe(device), "platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "model": asdict(config),
        "compile": compile_model,
        "peak_gflops": peak,
        "train_gflop_per_image": per_image / 1e9,
        "results": [asdict(r) for r in results],
        "sample_64_seconds": sample_seconds,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"device: {report['machine']['device']}, torch {report['machine']['torch']}, "
        f"fp32 matmul peak {report['peak_gflops']:.1f} GFLOP/s, "
        f"{report['train_gflop_per_image']:.3f} GFLOP per image per training step",
        "",
        "| batch | train images/s | train GFLOP/s | MFU | eval images/s | peak memory |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['batch_size']} | {r['train_images_per_s']:.1f} | {r['train_gflops']:.1f} | "
                     f"{r['mfu']:.1%} | {r['eval_images_per_s']:.1f} | {r['peak_memory_mb']:.0f} MB |")
    lines.append("")
    lines.append(f"sampling a 64-image, {report['model']['T']}-step animation: "
                 f"{report['sample_64_seconds'] * 1000:.0f} ms")
    return "\n".join(lines)


def save(report: dict[str, Any], path: Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
