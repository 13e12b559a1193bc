"""`drawstudio bench`: how fast DRAW trains, evaluates and samples here, against a textbook
DRAW run beside it and against the machine's own matmul peak.

Speed differs from one CPU to the next and with what else runs, so the benchmark carries
its own comparison: each case is trained with the project's defaults and with the plain
textbook code (`drawstudio/bench/textbook.py`) on the same shapes, one after the other,
each in a fresh process, and the speed-up is their ratio.

Model FLOPs are counted from the layer shapes (drawstudio/model/flops.py). Model FLOP
utilisation (MFU) = achieved model FLOP/s ÷ the fp32 peak measured in the same run as the best
of several large square matmuls. Each measurement runs in a fresh process, so its peak memory
(max RSS on the CPU, allocator peak on CUDA) is its own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from drawstudio.bench.ranks import measure_ranks
from drawstudio.config import ModelConfig
from drawstudio.errors import ConfigError
from drawstudio.model.flops import train_flops_per_image
from drawstudio.system.ranks_rule import MIN_RANK_GFLOP, ranks_for
from drawstudio.system.devices import describe, prepare, resolve_device

CASES = {  # the configurations `bench` races against the textbook code by default
    "paper": ModelConfig(),  # the paper's MNIST attention model: T=64, read 2, write 5, 256/256 LSTMs, z=100
    "small": ModelConfig(T=16),  # the studio's quick model
}
DEFAULT_CASES = "paper:128,small:64"
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
                "asimd", "sve")


@dataclass(frozen=True)
class Case:
    name: str  # a key of CASES
    batch_size: int

    @property
    def config(self) -> ModelConfig:
        return CASES[self.name]


@dataclass
class Result:
    case: str  # e.g. "paper:128"
    batch_size: int
    train_images_per_s: float
    textbook_images_per_s: float  # the plain textbook DRAW (drawstudio/bench/textbook.py), same shapes
    speedup: float  # train_images_per_s / textbook_images_per_s
    train_gflops: float  # achieved model GFLOP/s in training
    mfu: float  # train_gflops / peak
    eval_images_per_s: float
    peak_memory_mb: float
    threads: int  # CPU threads the default rule chose (drawstudio/system/threads.py)
    ranks: int = 1  # processes of the data-parallel measurement (1: not measured)
    ranks_images_per_s: float = 0.0  # `ranks` processes of threads // ranks threads each, same global batch
    ranks_speedup: float = 0.0  # ranks_images_per_s / textbook_images_per_s
    faster: str = "threads"  # "threads" (one process) or "ranks"
    rule_ranks: int = 1  # the processes `drawstudio train` chooses for this case here (system/ranks_rule.py)


def parse_cases(text: str) -> list[Case]:
    """'paper:128,small:64' → cases; a one-line ConfigError for anything else."""
    cases = []
    for item in text.split(","):
        name, _, batch = item.strip().partition(":")
        if name not in CASES or not batch.isdigit() or int(batch) < 1:
            raise ConfigError(f"--cases {text!r}: expected NAME:BATCH items with NAME one of "
                              f"{', '.join(CASES)} and a positive batch, e.g. {DEFAULT_CASES}")
        cases.append(Case(name, int(batch)))
    return cases


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


def _measure(config: ModelConfig, batch_size: int, device_name: str, steps: int, compile_model: bool, amp: bool,
             queue: Any) -> None:
    """Runs in a child process: our training step as `drawstudio train` runs it by default
    (process settings, the thread rule, the fused path), evaluation, and memory."""
    from drawstudio.model.draw import Draw
    from drawstudio.model.fused import fused_forward
    from drawstudio.system.threads import ThreadGovernor

    device = resolve_device(device_name)
    prepare(device)
    governor = ThreadGovernor()
    torch.manual_seed(0)
    model = Draw(config).to(device)
    forward = torch.compile(fused_forward) if compile_model else fused_forward
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = (torch.rand(batch_size, config.channels, config.height, config.width, device=device) > 0.5).float()
    labels = torch.zeros(batch_size, dtype=torch.long, device=device) if config.num_classes else None

    def train_step() -> None:
        governor.adjust()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = forward(model, x, labels).loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()

    train = _timed(train_step, steps, device)
    with torch.no_grad():
        evaluate = _timed(lambda: forward(model, x, labels).loss.sum(), steps, device)
    queue.put((batch_size / train, batch_size / evaluate, _peak_memory_mb(device), governor.threads))


def _measure_textbook(config: ModelConfig, batch_size: int, device_name: str, steps: int, queue: Any) -> None:
    """Runs in a child process with none of our process settings: the textbook DRAW's training step."""
    from drawstudio.bench.textbook import TextbookDraw, train_step_function

    device = resolve_device(device_name)
    torch.manual_seed(0)
    with torch.device(device):
        model = TextbookDraw(config.T, config.read_n, config.write_n, config.enc_size, config.dec_size,
                             config.z_size, config.height, config.width)
        step = train_step_function(model, batch_size)
    queue.put(batch_size / _timed(step, steps, device))


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


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


def in_child(target: Any, *args: Any) -> Any:
    """`target(*args, queue)` in a fresh process: its own thread pool, allocator and peak memory."""
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


def describe_processor() -> dict[str, Any]:
    """The CPU's model name, its vector extensions and the kernels PyTorch picked for it."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.processor() or platform.machine()):
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "vector_extensions": [flag for flag in VECTOR_FLAGS if flag in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def wait_policy() -> str:
    """The OpenMP wait policy the measurements ran under."""
    chosen = os.environ.get("OMP_WAIT_POLICY")
    return f"OMP_WAIT_POLICY={chosen}" if chosen else "OpenMP's default (idle workers spin briefly, then sleep)"


def run(cases: list[Case], steps: int = 10, device_name: str = "auto", compile_model: bool = False,
        amp: bool = False, progress: Any = print) -> dict[str, Any]:
    """Every case trained with our defaults and with the textbook code, each in a fresh
    process; the matmul peak measured in this run; a 64-image sampling time."""
    from drawstudio.system.threads import ThreadGovernor

    device = resolve_device(device_name)
    progress(f"measuring the fp32 matmul peak on {describe(device)} ...")
    peak = matmul_peak_gflops(device)
    results = []
    for case in cases:
        progress(f"{case.name} model, batch {case.batch_size}: {steps} timed steps, ours then the textbook's ...")
        train_ips, eval_ips, memory, threads = in_child(_measure, case.config, case.batch_size, device_name, steps,
                                                         compile_model, amp)
        textbook_ips = in_child(_measure_textbook, case.config, case.batch_size, device_name, steps)
        gflops = train_ips * train_flops_per_image(case.config) / 1e9
        result = Result(f"{case.name}:{case.batch_size}", case.batch_size, train_ips, textbook_ips,
                        train_ips / textbook_ips, gflops, gflops / peak, eval_ips, memory, threads)
        if device.type == "cpu" and threads > 1 and case.batch_size % threads == 0:
            progress(f"{case.name} model, batch {case.batch_size}: {threads} ranks of one thread each ...")
            result.ranks = threads
            result.ranks_images_per_s = measure_ranks(case.config, case.batch_size, threads, 1, steps, _timed, amp)
            result.ranks_speedup = result.ranks_images_per_s / textbook_ips
            result.faster = "ranks" if result.ranks_images_per_s > train_ips else "threads"
        result.rule_ranks = ranks_for(threads, case.batch_size, train_flops_per_image(case.config) / 1e9)
        results.append(result)
    progress("sampling a 64-image animation ...")
    sample_seconds = in_child(_sample, cases[0].config, device_name, 64, max(steps, 5))
    return {
        "machine": {"device": describe(device), "processor": describe_processor(), "platform": platform.platform(),
                    "torch": torch.__version__, "wait_policy": wait_policy(),
                    "thread_rule": ThreadGovernor().rule.split(" (now")[0]},
        "cases": {name: asdict(config) for name, config in CASES.items()},
        "compile": compile_model,
        "amp": amp,
        "peak_gflops": peak,
        "train_gflop_per_image": {name: train_flops_per_image(config) / 1e9 for name, config in CASES.items()},
        "results": [asdict(r) for r in results],
        "sample_64_seconds": sample_seconds,
        "sample_model": cases[0].name,
    }


def table(report: dict[str, Any]) -> str:
    machine = report["machine"]
    processor = machine["processor"]
    per_image = ", ".join(f"{name} {gflop:.3f}" for name, gflop in report["train_gflop_per_image"].items())
    lines = [
        f"processor: {processor['model']}, {processor['cores']} cores, "
        f"{' '.join(processor['vector_extensions']) or 'no vector extensions listed'} "
        f"(PyTorch kernels: {processor['torch_cpu_capability']})",
        f"device: {machine['device']}, torch {machine['torch']}, {machine['wait_policy']}",
        f"threads: {machine['thread_rule']}",
        f"ranks (`drawstudio train` without --ranks): one per free core where each rank's slice of a step "
        f"carries ≥ {MIN_RANK_GFLOP:g} GFLOP, else one process",
        "products: " + ("bf16 (--amp), the rest fp32" if report.get("amp") else "fp32"),
        f"fp32 matmul peak {report['peak_gflops']:.1f} GFLOP/s measured now; "
        f"GFLOP per image per training step: {per_image}",
        "",
        "| model:batch | train images/s | textbook images/s | speed-up vs textbook | train GFLOP/s | MFU "
        "| eval images/s | peak memory | threads | data-parallel ranks: images/s, speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["results"]:
        ranks = (f"{r['ranks']} × 1 thread: {r['ranks_images_per_s']:.1f}, {r['ranks_speedup']:.2f}x"
                 + (" (faster)" if r["faster"] == "ranks" else "")) if r["ranks"] > 1 else "not measured"
        chosen = r.get("rule_ranks", 1)
        ranks += f"; train chooses {chosen} ranks" if chosen > 1 else "; train chooses one process"
        lines.append(f"| {r['case']} | {r['train_images_per_s']:.1f} | {r['textbook_images_per_s']:.1f} | "
                     f"{r['speedup']:.2f}x | {r['train_gflops']:.1f} | {r['mfu']:.1%} | "
                     f"{r['eval_images_per_s']:.1f} | {r['peak_memory_mb']:.0f} MB | {r['threads']} | {ranks} |")
    lines.append("")
    lines.append(f"sampling a 64-image, {report['cases'][report['sample_model']]['T']}-step animation: "
                 f"{report['sample_64_seconds'] * 1000:.0f} ms")
    return "\n".join(lines)


def save(report: dict[str, Any], path: Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
