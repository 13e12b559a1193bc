"""DRAW's selective attention (Gregor et al. 2015, §3.2): an N×N grid of Gaussian filters.

Coordinates: pixel columns are a = 1..A (width) and rows b = 1..B (height), as in the
paper, so that g̃ = 0 puts the grid centre at (A+1)/2, the middle of the image, and
g̃ = ±1 at the outer edges. Filter i of N (1-based) sits at g + (i − N/2 − 0.5)·δ, which
is symmetric about g; a 0-based i in the same formula shifts the whole grid by one
stride, a bug in some public implementations.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

# Guards the filterbank normalisation when every filter weight underflows to 0
# (a grid far outside the image): the row then stays 0 instead of becoming NaN.
FILTER_EPS = 1e-8


class AttentionParams(NamedTuple):
    """Where a read or write looks, one value per example, in pixel units."""

    gx: Tensor  # (B,) grid centre, column coordinate in 1..A
    gy: Tensor  # (B,) grid centre, row coordinate in 1..B
    delta: Tensor  # (B,) stride between filter centres
    sigma2: Tensor  # (B,) isotropic filter variance σ²
    gamma: Tensor  # (B,) intensity γ


def attention_params(raw: Tensor, height: int, width: int, n: int) -> AttentionParams:
    """Map the 5 linear outputs (g̃X, g̃Y, log σ², log δ̃, log γ) of eq. 21 to pixel units."""
    gx_tilde, gy_tilde, log_sigma2, log_delta_tilde, log_gamma = raw.unbind(-1)  # each (B,)
    gx = (width + 1) / 2 * (gx_tilde + 1)  # eq. 22
    gy = (height + 1) / 2 * (gy_tilde + 1)  # eq. 23
    # eq. 24; with N = 1 there is no stride to scale, so δ̃ is taken as a pixel distance
    delta = (max(height, width) - 1) / max(n - 1, 1) * torch.exp(log_delta_tilde)
    return AttentionParams(gx, gy, delta, torch.exp(log_sigma2), torch.exp(log_gamma))


def filter_centres(g: Tensor, delta: Tensor, n: int) -> Tensor:
    """μ^i = g + (i − N/2 − 0.5)·δ for i = 1..N (eq. 19-20). (B,) → (B, N)."""
    offsets = torch.arange(n, device=g.device, dtype=g.dtype) - (n - 1) / 2  # i − N/2 − 0.5, 1-based i
    return g[:, None] + offsets * delta[:, None]


def filterbank(g: Tensor, delta: Tensor, sigma2: Tensor, n: int, size: int) -> Tensor:
    """F[i, a] ∝ exp(−(a − μ^i)² / 2σ²), each row normalised over a (eq. 25-26). → (B, N, size)."""
    mu = filter_centres(g, delta, n)  # (B, N)
    a = torch.arange(1, size + 1, device=g.device, dtype=g.dtype)  # (size,) 1-based pixel coordinates
    # divisions happen on the small tensors: a division's backward over (B, N, size) costs
    # several times a multiplication's, and this runs twice per step
    scale = (-0.5 / sigma2)[:, None, None]  # −1/(2σ²), (B, 1, 1)
    weights = torch.exp((a - mu[:, :, None]).square() * scale)  # (B, N, size)
    return weights * weights.sum(-1, keepdim=True).clamp_min(FILTER_EPS).reciprocal()


def filterbanks(params: AttentionParams, n: int, height: int, width: int) -> tuple[Tensor, Tensor]:
    """The horizontal and vertical filterbanks F_X (B, N, A) and F_Y (B, N, B)."""
    if height == width:  # one pass builds both (half the operations)
        both = filterbank(torch.cat([params.gx, params.gy]), params.delta.repeat(2), params.sigma2.repeat(2), n, width)
        fx, fy = both.chunk(2)
        return fx, fy
    fx = filterbank(params.gx, params.delta, params.sigma2, n, width)
    fy = filterbank(params.gy, params.delta, params.sigma2, n, height)
    return fx, fy


def read_glimpse(images: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """γ · F_Y x F_Xᵀ for every channel (eq. 27). (B, C, H, W) → (B, C, N, N)."""
    patch = fy[:, None] @ images @ fx[:, None].transpose(-1, -2)  # (B, C, N, N)
    return gamma[:, None, None, None] * patch


def write_patch(patch: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """(1/γ) · F_Yᵀ w F_X for every channel (eq. 29). (B, C, N, N) → (B, C, H, W)."""
    image = fy[:, None].transpose(-1, -2) @ patch @ fx[:, None]  # (B, C, H, W)
    return image * gamma.reciprocal()[:, None, None, None]
