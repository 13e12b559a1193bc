"""The model's settings and optional outputs as values: initial scales, what a pass returns
unless asked for more, the noise's type, and the trace of a model without attention."""

import math

import pytest
import torch

from drawstudio.config import ModelConfig
from drawstudio.model.draw import Draw
from drawstudio.model.fused import fused_forward


def tiny(**settings) -> Draw:
    torch.manual_seed(0)
    base = dict(T=2, enc_size=8, dec_size=8, z_size=3, read_n=2, write_n=2, height=6, width=6)
    return Draw(ModelConfig(**{**base, **settings}))


def test_the_logistic_likelihood_starts_at_a_scale_of_e_to_the_minus_three_per_channel():
    model = tiny(channels=3, likelihood="logistic")
    torch.testing.assert_close(model.log_scale.detach(), torch.full((3,), -3.0))


def test_an_intensity_of_one_keeps_pytorchs_bias_and_any_other_sets_log_gamma():
    model = tiny(read_gamma_init=1.0, write_gamma_init=2.0)
    torch.manual_seed(0)
    default = tiny(read_gamma_init=1.0, write_gamma_init=1.0)
    assert model.read_attention.bias[4].item() == default.read_attention.bias[4].item() != 0.0
    assert model.write_attention.bias[4].item() == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("fused", [False, True])
def test_a_pass_computes_no_trace_and_no_importance_ratio_unless_asked(fused):
    model = tiny()
    x = torch.rand(2, 1, 6, 6)
    out = fused_forward(model, x) if fused else model(x)
    assert out.trace is None and out.log_ratio is None
    assert out.recon.shape == (2,) and out.kl.shape == (2, 2)


def test_the_noise_has_the_input_s_type_and_one_vector_per_step_and_image():
    model = tiny().double()
    noise = model.draw_noise(5, torch.zeros(1, dtype=torch.float64))
    assert noise.dtype == torch.float64 and noise.shape == (2, 5, 3)


def test_a_conditional_model_without_labels_says_it_needs_them():
    model = tiny(num_classes=3)
    with pytest.raises(ValueError, match="^a conditional DRAW model needs labels$"):
        model(torch.rand(2, 1, 6, 6))


def test_without_attention_the_trace_holds_the_whole_image_and_its_error_at_every_step():
    model = tiny(attention=False, T=3)
    x = torch.rand(2, 1, 6, 6)
    trace = model(x, record=True).trace
    assert trace.read is None and trace.write is None
    assert trace.read_glimpses.shape == (3, 2, 2, 1, 6, 6)
    assert trace.write_patches.shape == (3, 2, 1, 6, 6)
    previous = [model.canvas0.expand(2, -1, -1, -1), *trace.canvases[:-1]]
    for t in range(3):
        torch.testing.assert_close(trace.read_glimpses[t, :, 0], x)
        torch.testing.assert_close(trace.read_glimpses[t, :, 1], x - torch.sigmoid(previous[t]))


def test_a_one_step_model_without_attention_draws_and_traces():
    model = tiny(attention=False, T=1)
    canvases, writes = model.generate(2)
    assert canvases.shape == (1, 2, 1, 6, 6) and writes is None
    assert model(torch.rand(2, 1, 6, 6), record=True).trace.canvases.shape == (1, 2, 1, 6, 6)


def test_the_noise_is_drawn_on_the_input_s_device():
    assert tiny().draw_noise(2, torch.empty(0, device="meta")).device.type == "meta"


def test_filters_are_built_on_the_device_of_their_parameters():
    from drawstudio.model import attention as att

    meta = {name: torch.ones(2, device="meta") for name in ("g", "delta", "sigma2")}
    bank = att.filterbank(meta["g"], meta["delta"], meta["sigma2"], n=3, size=5)
    assert bank.device.type == "meta" and bank.shape == (2, 3, 5)
