"""The fused fast path computes the same model as the plain reference."""

import pytest
import torch

from drawstudio.config import ModelConfig
from drawstudio.model.draw import Draw
from drawstudio.model.fused import fused_forward

CONFIGS = {
    "paper-mnist": ModelConfig(T=6),
    "no-attention": ModelConfig(T=5, attention=False, enc_size=32, dec_size=32, z_size=8),
    "conditional-colour-rect": ModelConfig(T=5, channels=3, height=12, width=9, read_n=3, write_n=4,
                                           enc_size=24, dec_size=20, z_size=6, num_classes=5,
                                           likelihood="logistic", learn_canvas=True),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_fused_path_gives_the_same_loss_and_gradients_as_the_plain_one(name):
    config = CONFIGS[name]
    torch.manual_seed(0)
    model = Draw(config).double()
    x = torch.rand(4, config.channels, config.height, config.width, dtype=torch.float64)
    labels = torch.tensor([0, 1, 4, 2]) if config.num_classes else None
    noise = torch.randn(config.T, 4, config.z_size, dtype=torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]

    plain = model(x, labels, noise, importance=True)
    plain_grads = torch.autograd.grad(plain.loss.sum(), params)
    fused = fused_forward(model, x, labels, noise, importance=True)
    fused_grads = torch.autograd.grad(fused.loss.sum(), params)

    assert torch.allclose(plain.recon, fused.recon, rtol=1e-12)
    assert torch.allclose(plain.kl, fused.kl, rtol=1e-12)
    assert torch.allclose(plain.log_ratio, fused.log_ratio, rtol=1e-12)
    for p, g_plain, g_fused in zip(params, plain_grads, fused_grads):
        assert torch.allclose(g_plain, g_fused, rtol=1e-9, atol=1e-12), p.shape


def test_fused_path_matches_in_float32_for_the_paper_model():
    torch.manual_seed(0)
    model = Draw(ModelConfig(T=8))
    x = (torch.rand(16, 1, 28, 28) > 0.5).float()
    noise = torch.randn(8, 16, 100)
    assert torch.allclose(model(x, noise=noise).loss, fused_forward(model, x, noise=noise).loss, rtol=1e-4)


def test_fused_path_trains_under_bf16_autocast_with_float32_gradients():
    torch.manual_seed(0)
    model = Draw(ModelConfig(T=4, enc_size=32, dec_size=32, z_size=6))
    x = torch.rand(4, 1, 28, 28)
    noise = torch.randn(4, 4, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = fused_forward(model, x, noise=noise)
        plain = model(x, noise=noise)
    fused.loss.mean().backward()
    assert all(p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
               for p in model.parameters() if p.requires_grad)
    assert fused.loss.mean().item() == pytest.approx(plain.loss.mean().item(), rel=1e-3)


def _paper_step_inputs(T: int = 6, batch: int = 8):
    torch.manual_seed(0)
    model = Draw(ModelConfig(T=T))
    x = (torch.rand(batch, 1, 28, 28) > 0.5).float()
    return model, x, torch.randn(T, batch, model.config.z_size)


def test_bf16_products_keep_the_bound_and_its_gradients_within_bfloat16s_rounding():
    model, x, noise = _paper_step_inputs()
    params = [p for p in model.parameters() if p.requires_grad]
    exact = fused_forward(model, x, None, noise)
    exact_grads = torch.autograd.grad(exact.loss.sum(), params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rounded = fused_forward(model, x, None, noise)
    rounded_grads = torch.autograd.grad(rounded.loss.sum(), params)
    # the canvas, attention and the bound stay float32: only the products round (8 bits of mantissa)
    assert rounded.recon.dtype == rounded.kl.dtype == torch.float32
    assert rounded.loss.sum().item() == pytest.approx(exact.loss.sum().item(), rel=5e-3)
    assert rounded.loss.sum().item() != exact.loss.sum().item()  # it did run in bfloat16
    for p, a, b in zip(params, exact_grads, rounded_grads):
        assert b.dtype == torch.float32, p.shape
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), 0) > 0.999, p.shape


def test_bf16_products_cast_each_weight_once_a_pass_not_once_a_step():
    from torch.utils._python_dispatch import TorchDispatchMode

    class CastsToBf16(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.sizes: list[tuple[int, ...]] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is torch.ops.aten._to_copy.default and kwargs.get("dtype") == torch.bfloat16:
                self.sizes.append(tuple(args[0].shape))
            return func(*args, **kwargs)

    model, x, noise = _paper_step_inputs(T=6)
    casts = CastsToBf16()
    with torch.autocast("cpu", dtype=torch.bfloat16), casts:
        fused_forward(model, x, None, noise)
    weights = [size for size in casts.sizes if len(size) == 2 and min(size) >= 100]  # not (B, ·) activations
    # the h^dec, encoder, q and z weights: (D, P), (R + E, 4E), (E, 2Z), (Z, 4D)
    assert sorted(weights) == sorted([(256, 2083), (264, 1024), (256, 200), (100, 1024)])
