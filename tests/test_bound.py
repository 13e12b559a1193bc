"""The NLL bounds on a model small enough to compute by hand.

With every weight zero, both LSTMs output h = o·tanh(c) = 0 at every step (c stays 0 because
the candidate tanh(0) is 0), so each step's posterior is N(μ, σ²) from the bias of Q alone and
the canvas grows by the bias of the write layer alone. Nothing the decoder does depends on z,
which makes p(x) = p(x | z) exactly: the true NLL is the reconstruction term, and the
importance-weighted bound must close the whole KL gap as K grows.
"""

import math

import pytest
import torch

from drawstudio.config import ModelConfig
from drawstudio.model.draw import Draw
from drawstudio.model.fused import fused_forward
from drawstudio.model.likelihood import importance_weighted_nll

MU, LOG_SIGMA, WRITE = 1.0, 0.0, 0.5  # posterior N(1, 1) at both steps; canvas += 0.5 per step
X = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])  # (1, 1, 2, 2)

# c_T = 0 + 2 × 0.5 = 1 at every pixel; −log σ(1) for the three 1s, −log(1 − σ(1)) for the 0
RECON_BY_HAND = 3 * math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(1.0))  # 2.2530468
# ½ (μ² + σ² − log σ² − 1) = ½ (1 + 1 − 0 − 1) per step, two steps
KL_BY_HAND = 2 * 0.5
BOUND_BY_HAND = RECON_BY_HAND + KL_BY_HAND  # 3.2530468


def hand_model() -> Draw:
    model = Draw(ModelConfig(channels=1, height=2, width=2, T=2, attention=False, enc_size=3, dec_size=3, z_size=1))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.q.bias.copy_(torch.tensor([MU, LOG_SIGMA]))
        model.write_layer.bias.fill_(WRITE)
    return model


def samples(model: Draw, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """−log p(x|z_k) and log q(z_k|x) − log p(z_k) of K posterior samples, each (K, 1)."""
    noise = torch.randn(2, k, 1, generator=torch.Generator().manual_seed(seed))
    out = model(X.expand(k, -1, -1, -1), None, noise, importance=True)
    return out.recon.view(k, 1), out.log_ratio.view(k, 1)


def test_bound_is_reconstruction_plus_kl_computed_by_hand():
    out = hand_model()(X)
    assert out.recon.item() == pytest.approx(RECON_BY_HAND, abs=1e-5)
    assert out.kl.sum().item() == pytest.approx(KL_BY_HAND, abs=1e-6)
    assert out.loss.item() == pytest.approx(BOUND_BY_HAND, abs=1e-5)


def test_fused_training_path_gives_the_hand_computed_bound():
    out = fused_forward(hand_model(), X, None, torch.randn(2, 1, 1))
    assert out.loss.item() == pytest.approx(BOUND_BY_HAND, abs=1e-5)


def test_one_sample_importance_weighted_bound_is_the_bound_on_average():
    recon, log_ratio = samples(hand_model(), 20_000)
    one_sample_bounds = torch.stack([importance_weighted_nll(r[None], q[None]) for r, q in zip(recon, log_ratio)])
    # a single sample's −log w is unbiased for the bound; its sd here is √2 nats, so 20,000 give ±0.01
    assert one_sample_bounds.mean().item() == pytest.approx(BOUND_BY_HAND, abs=0.05)


def test_importance_weighted_bound_tightens_with_k_towards_the_true_nll():
    model = hand_model()
    averages = {}
    for k in (1, 10, 1000):
        bounds = [importance_weighted_nll(*samples(model, k, seed)).item() for seed in range(100)]
        averages[k] = sum(bounds) / len(bounds)
    assert averages[1] > averages[10] > averages[1000]
    assert averages[10] <= BOUND_BY_HAND
    # p(x) = p(x|z) here, so the true NLL is the reconstruction term alone
    assert averages[1000] == pytest.approx(RECON_BY_HAND, abs=0.03)
    assert all(bound >= RECON_BY_HAND - 0.03 for bound in averages.values())
