"""Choosing the compute device: CUDA when asked for or present, the CPU otherwise."""

from __future__ import annotations

import torch

from drawstudio.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' → cuda when available else cpu; 'cuda'/'cuda:N' must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name!r}: no CUDA GPU is available on this machine (use 'cpu' or 'auto')")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise ConfigError(f"device={name!r}: use auto, cpu, cuda or cuda:N")


def prepare(device: torch.device, threads: int = 0) -> None:
    """Process-wide settings for fast training on `device`, with `threads` CPU threads (0: default).

    On the CPU, denormal floats are flushed to zero: the attention filters' Gaussian tails
    underflow into denormals, whose arithmetic is many times slower on x86 and which
    carry no information at float precision (measured: 1.7 s → 1.1 s per paper-model step).
    """
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)


def describe(device: torch.device) -> str:
    """A short human name, e.g. 'cpu (2 threads)' or 'cuda:0 (NVIDIA A100)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads)"
