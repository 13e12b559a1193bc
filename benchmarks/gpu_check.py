"""Is DRAW Studio right and fast on this CUDA GPU? One short run (a few minutes), JSON out.

    python benchmarks/gpu_check.py [--device cuda:0] [--steps 200] [--batch-size 128] [--out gpu-check.json]

1. The fused path against the plain reference on the GPU: loss and every gradient, in
   float64 on a small model (the same check `tests/test_fused.py` makes on the CPU).
2. `--steps` training steps of the paper's MNIST model in four settings: fp32, `--amp`
   (bf16 autocast), `--compile`, and both; images/s (median step), achieved model
   GFLOP/s and model FLOP utilisation against an fp32 (or bf16, for the amp settings)
   matmul peak measured on this GPU now, and the allocator's peak memory.
On a machine without CUDA it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drawstudio.config import ModelConfig  # noqa: E402
from drawstudio.model.draw import Draw  # noqa: E402
from drawstudio.model.flops import train_flops_per_image  # noqa: E402
from drawstudio.model.fused import fused_forward  # noqa: E402
from drawstudio.system.devices import prepare  # noqa: E402


def fused_matches_plain(device: torch.device) -> dict[str, float]:
    """Largest relative differences between the fused and plain loss and gradients."""
    torch.manual_seed(0)
    config = ModelConfig(T=6, enc_size=64, dec_size=64, z_size=10)
    model = Draw(config).double().to(device)
    x = (torch.rand(8, 1, 28, 28, device=device) > 0.5).double()
    noise = torch.randn(config.T, 8, config.z_size, device=device, dtype=torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]
    plain = model(x, noise=noise).loss.sum()
    fused = fused_forward(model, x, noise=noise).loss.sum()
    plain_grads = torch.autograd.grad(plain, params)
    fused_grads = torch.autograd.grad(fused, params)
    gradient_error = max(((a - b).abs().max() / a.abs().max().clamp_min(1e-30)).item()
                         for a, b in zip(plain_grads, fused_grads))
    return {"loss_relative_error": abs((plain - fused) / plain).item(), "gradient_relative_error": gradient_error}


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """Best GFLOP/s of 8192² matmuls in `dtype`."""
    a = torch.randn(8192, 8192, device=device, dtype=dtype)
    b = torch.randn(8192, 8192, device=device, dtype=dtype)
    best = 0.0
    for _ in range(5):
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        torch.cuda.synchronize(device)
        best = max(best, 2 * 8192**3 / (time.perf_counter() - start) / 1e9)
    return best


def train(device: torch.device, steps: int, batch_size: int, amp: bool, compile_model: bool) -> dict[str, float]:
    torch.manual_seed(0)
    config = ModelConfig()
    model = Draw(config).to(device)
    forward = torch.compile(fused_forward) if compile_model else fused_forward
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = (torch.rand(batch_size, 1, 28, 28, device=device) > 0.5).float()
    torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(steps + 3):  # three warm-up steps (compilation happens in the first)
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = forward(model, x).loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        torch.cuda.synchronize(device)
        if step >= 3:
            times.append(time.perf_counter() - start)
    images_per_s = batch_size / statistics.median(times)
    return {"images_per_s": images_per_s, "gflops": images_per_s * train_flops_per_image(config) / 1e9,
            "final_loss": loss.item(), "peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to check (run this where `nvidia-smi` lists a GPU)")
        return 0
    device = torch.device(args.device)
    prepare(device)
    peaks = {"fp32": matmul_peak(device, torch.float32), "bf16": matmul_peak(device, torch.bfloat16)}
    report = {"gpu": torch.cuda.get_device_name(device), "torch": torch.__version__,
              "fused_vs_plain": fused_matches_plain(device), "matmul_peak_gflops": peaks, "training": {}}
    for amp in (False, True):
        for compile_model in (False, True):
            name = "+".join(["amp"] * amp + ["compile"] * compile_model) or "fp32"
            result = train(device, args.steps, args.batch_size, amp, compile_model)
            result["mfu"] = result["gflops"] / peaks["bf16" if amp else "fp32"]
            report["training"][name] = result
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    ok = report["fused_vs_plain"]["gradient_relative_error"] < 1e-8
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
