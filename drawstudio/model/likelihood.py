"""Reconstruction likelihoods D(x | c_T) and the KL term, all in nats per image.

- Bernoulli (the paper's choice for MNIST, eq. 9): −log D = Σ BCE(σ(c_T), x). Valid for
  binary x and, as the usual cross-entropy, for intensities in [0, 1].
- Discretised logistic for colour intensities (8-bit pixels mapped to [0, 1]): each
  sub-pixel's probability is the mass of a logistic with mean σ(c_T) and a learned
  per-channel scale over its 1/255-wide bin, with the end bins taking the tails. This
  is a proper probability of the 8-bit image, so the loss is a true NLL bound in nats
  per image; divide by (C·H·W·ln 2) for bits per dimension.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

BIN_HALF_WIDTH = 0.5 / 255.0


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """−log Bernoulli(x | σ(logits)) summed over pixels (eq. 9). (B, C, H, W) → (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def logistic_nll(logits: Tensor, x: Tensor, log_scale: Tensor) -> Tensor:
    """−log of the discretised-logistic mass of 8-bit `x` (in [0, 1]). (B, C, H, W) → (B,)."""
    mean = torch.sigmoid(logits)
    inv_scale = torch.exp(-log_scale)[None, :, None, None]  # (1, C, 1, 1)
    upper = (x + BIN_HALF_WIDTH - mean) * inv_scale
    lower = (x - BIN_HALF_WIDTH - mean) * inv_scale
    # log(σ(u) − σ(l)) computed stably; the first/last bin extend to ∓∞
    log_cdf_upper = F.logsigmoid(upper)
    log_one_minus_cdf_lower = F.logsigmoid(-lower)
    mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    log_mid = torch.log(mass.clamp_min(1e-12))
    log_prob = torch.where(
        x < BIN_HALF_WIDTH, log_cdf_upper, torch.where(x > 1 - BIN_HALF_WIDTH, log_one_minus_cdf_lower, log_mid)
    )
    return -log_prob.flatten(1).sum(1)


def gaussian_kl(mu: Tensor, log_sigma: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − log σ² − 1) (eq. 11; the constant is −½ per latent unit). (B, Z) → (B,)."""
    return 0.5 * (mu.square() + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)


def log_q_over_p(z: Tensor, noise: Tensor, log_sigma: Tensor) -> Tensor:
    """log Q(z|x) − log N(z; 0, I) for z = μ + σ·ε, summed over units. (B, Z) → (B,).

    The ½ log 2π terms cancel; the importance-weighted bound sums this over steps.
    """
    return (0.5 * z.square() - 0.5 * noise.square() - log_sigma).sum(-1)


def importance_weighted_nll(recon: Tensor, log_ratio: Tensor) -> Tensor:
    """−log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x) from K samples per image (Burda et al., 2016).
    `recon` = −log p(x|z_k) and `log_ratio` = log q(z_k|x) − log p(z_k), both (K, B) → (B,).

    An upper bound on −log p(x) that is the variational bound in expectation for K = 1 and
    tightens towards −log p(x) as K grows.
    """
    k = recon.shape[0]
    return math.log(k) - torch.logsumexp(-(recon + log_ratio), 0)

