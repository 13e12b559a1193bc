"""What the studio draws, as numpy arrays: computed once on the training thread, so the
GUI never runs the model and scrubbing through steps is only indexing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from drawstudio.model.attention import AttentionParams


@dataclass
class Attention:
    """Attention of every step for every example, each (T, B), in pixel units (1-based)."""

    gx: np.ndarray
    gy: np.ndarray
    delta: np.ndarray
    sigma: np.ndarray  # filter standard deviation σ (not σ²)
    gamma: np.ndarray
    n: int  # grid size N

    @classmethod
    def from_params(cls, params: AttentionParams | None, n: int) -> Attention | None:
        if params is None:
            return None
        as_np = [v.detach().float().cpu().numpy() for v in params]
        gx, gy, delta, sigma2, gamma = as_np
        return cls(gx, gy, delta, np.sqrt(sigma2), gamma, n)

    def box(self, t: int, b: int) -> tuple[float, float, float, float]:
        """The grid's extent at step t for example b as (left, top, width, height) in
        0-based pixel-edge coordinates: centres span (N−1)·δ, plus half a stride each side."""
        left, top, width, height = self._extent(self.gx[t, b], self.gy[t, b], self.delta[t, b])
        return float(left), float(top), float(width), float(height)

    def boxes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`box` for every step and example at once: (left, top, width, height), each (T, B)."""
        return self._extent(self.gx, self.gy, self.delta)

    def _extent(self, gx: Any, gy: Any, delta: Any) -> tuple[Any, Any, Any, Any]:
        span = max(self.n, 1) * delta
        return gx - 0.5 - span / 2, gy - 0.5 - span / 2, span, span


@dataclass
class Snapshot:
    step: int
    originals: np.ndarray  # (B, C, H, W) the fixed batch, in [0, 1]
    labels: np.ndarray | None  # (B,) class ids of the fixed batch
    reconstructions: np.ndarray  # (T, B, C, H, W) σ(c_t) of the reconstruction pass
    read: Attention | None
    write: Attention | None
    read_glimpses: np.ndarray  # (T, B, 2, C, N, N) γ-scaled glimpses of x and of the error image x̂
    write_patches: np.ndarray  # (T, B, C, N, N) the decoder's patch w_t (logit units)
    samples: np.ndarray  # (T, S, C, H, W) σ(c_t) drawn from the prior
    sample_write: Attention | None  # write attention of the samples
    sample_labels: np.ndarray | None  # (S,) requested classes of a conditional model
    kl_per_step: np.ndarray  # (T,) mean KL of each step over the fixed batch, nats

    @property
    def T(self) -> int:
        return self.reconstructions.shape[0]


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().float().cpu().numpy(), dtype=np.float32)
