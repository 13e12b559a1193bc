"""The DRAW model: losses by hand, noise every step, gradients everywhere, sampling shapes."""

import math

import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig
from drawstudio.errors import ConfigError
from drawstudio.model import attention as att
from drawstudio.model.draw import Draw
from drawstudio.model.likelihood import bernoulli_nll, gaussian_kl, log_q_over_p, logistic_nll

SMALL = dict(T=4, enc_size=16, dec_size=16, z_size=3, height=8, width=8, read_n=2, write_n=3)


def test_kl_of_the_prior_itself_is_exactly_zero():
    # catches the constant offset some implementations carry (−T/2 instead of −½ per unit)
    mu = torch.zeros(2, 100)
    assert gaussian_kl(mu, torch.zeros(2, 100)).tolist() == [0.0, 0.0]


def test_kl_matches_the_hand_computed_value():
    # μ = (1, 0), σ = (1, 2): ½[(1 + 1 − 0 − 1) + (0 + 4 − 2 ln 2 − 1)] = 2 − ln 2
    kl = gaussian_kl(torch.tensor([[1.0, 0.0]], dtype=torch.float64),
                     torch.tensor([[0.0, math.log(2)]], dtype=torch.float64))
    assert kl.item() == pytest.approx(2 - math.log(2), rel=1e-12)


def test_closed_form_kl_agrees_with_a_monte_carlo_estimate():
    torch.manual_seed(0)
    mu = torch.tensor([[0.7, -1.2, 0.1]], dtype=torch.float64)
    log_sigma = torch.tensor([[-0.5, 0.3, 0.0]], dtype=torch.float64)
    noise = torch.randn(400_000, 3, dtype=torch.float64)
    z = mu + log_sigma.exp() * noise
    estimate = log_q_over_p(z, noise, log_sigma.expand_as(z)).mean().item()  # E_q[log q − log p]
    assert estimate == pytest.approx(gaussian_kl(mu, log_sigma).item(), abs=0.01)


def test_bernoulli_nll_of_a_grey_canvas_is_ln2_per_pixel():
    logits = torch.zeros(1, 1, 2, 2)
    x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    assert bernoulli_nll(logits, x).item() == pytest.approx(4 * math.log(2))


def test_logistic_likelihood_is_a_normalised_distribution_over_8_bit_values():
    values = torch.arange(256, dtype=torch.float64) / 255
    x = values.view(1, 1, 1, 256)
    for mean_logit in (-2.0, 0.0, 1.5):
        nll = logistic_nll(torch.full_like(x, mean_logit), x, torch.tensor([-3.0], dtype=torch.float64))
        # nll sums −log p over the 256 pixels; exponentiate each pixel's term via a per-value run
        per_value = torch.stack([
            logistic_nll(torch.full((1, 1, 1, 1), mean_logit, dtype=torch.float64), v.view(1, 1, 1, 1),
                         torch.tensor([-3.0], dtype=torch.float64))
            for v in values
        ])
        assert torch.exp(-per_value).sum().item() == pytest.approx(1.0, abs=1e-6)
        assert nll.item() == pytest.approx(per_value.sum().item())


def test_logistic_likelihood_of_a_bin_is_the_logistic_mass_over_it_by_hand():
    # mean σ(0.4), scale e^−2.5; a middle bin is [x − ½/255, x + ½/255], the end bins run to ∓∞
    def sigmoid(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    mean, scale, half = sigmoid(0.4), math.exp(-2.5), 0.5 / 255
    by_hand = {
        0.0: sigmoid((half - mean) / scale),
        130 / 255: sigmoid((130 / 255 + half - mean) / scale) - sigmoid((130 / 255 - half - mean) / scale),
        1.0: 1 - sigmoid((1 - half - mean) / scale),
    }
    for value, mass in by_hand.items():
        x = torch.full((1, 1, 1, 1), value, dtype=torch.float64)
        nll = logistic_nll(torch.full_like(x, 0.4), x, torch.tensor([-2.5], dtype=torch.float64))
        assert nll.item() == pytest.approx(-math.log(mass), rel=1e-9), value


def test_loss_is_reconstruction_plus_the_kl_of_every_step():
    torch.manual_seed(0)
    model = Draw(ModelConfig(**SMALL))
    x = torch.rand(3, 1, 8, 8)
    out = model(x)
    assert out.kl.shape == (3, 4)
    assert torch.allclose(out.loss, out.recon + out.kl.sum(1))


def test_every_step_uses_its_own_noise():
    # a bug in one public implementation samples ε once and reuses it at every step
    torch.manual_seed(0)
    model = Draw(ModelConfig(**SMALL))
    x = torch.rand(2, 1, 8, 8)
    noise = torch.randn(4, 2, 3, requires_grad=True)
    model(x, noise=noise).loss.sum().backward()
    assert all(noise.grad[t].abs().sum() > 0 for t in range(4))
    drawn = model.draw_noise(2, x)
    assert drawn.shape == (4, 2, 3) and not torch.equal(drawn[0], drawn[1])


@pytest.mark.parametrize("settings", [
    dict(attention=True),
    dict(attention=False),
    dict(num_classes=3, learn_canvas=True),
    dict(channels=3, likelihood="logistic"),
])
def test_gradients_reach_every_parameter(settings):
    torch.manual_seed(0)
    model = Draw(ModelConfig(**{**SMALL, **settings}))
    channels = model.config.channels
    x = torch.rand(4, channels, 8, 8)
    labels = torch.tensor([0, 1, 2, 0]) if model.config.num_classes else None
    model(x, labels).loss.sum().backward()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_fixed_canvas_is_not_trained_and_starts_grey():
    model = Draw(ModelConfig(**SMALL))
    assert not model.canvas0.requires_grad
    assert torch.sigmoid(model.canvas0).unique().tolist() == [0.5]


def test_sampling_returns_the_canvas_of_every_step():
    torch.manual_seed(0)
    model = Draw(ModelConfig(**SMALL))
    canvases, write = model.generate(5)
    assert canvases.shape == (4, 5, 1, 8, 8)
    assert ((canvases >= 0) & (canvases <= 1)).all()
    assert write.gx.shape == (4, 5)
    assert not torch.equal(canvases[0], canvases[-1])


def test_trace_holds_canvases_attention_and_glimpses_per_step():
    torch.manual_seed(0)
    model = Draw(ModelConfig(**SMALL))
    trace = model(torch.rand(2, 1, 8, 8), record=True).trace
    assert trace.canvases.shape == (4, 2, 1, 8, 8)
    assert trace.read.delta.shape == (4, 2) and trace.write.gamma.shape == (4, 2)
    assert trace.read_glimpses.shape == (4, 2, 2, 1, 2, 2)
    assert trace.write_patches.shape == (4, 2, 1, 3, 3)


def test_changing_only_the_label_changes_the_sample():
    torch.manual_seed(0)
    model = Draw(ModelConfig(**SMALL, num_classes=4))
    noise = torch.randn(4, 2, 3)
    first, _ = model.generate(2, torch.tensor([0, 0]), noise)
    again, _ = model.generate(2, torch.tensor([0, 0]), noise)
    other, _ = model.generate(2, torch.tensor([3, 3]), noise)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("settings, message", [
    (dict(write_n=30), "write_n=30"),
    (dict(read_n=0), "read_n=0"),
    (dict(z_size=-1), "z_size=-1"),
    (dict(channels=2), "channels=2"),
    (dict(num_classes=1), "num_classes=1"),
])
def test_impossible_model_settings_are_rejected_with_the_field_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        Draw(ModelConfig(**{**dict(height=28, width=28), **settings}))


def test_rectangular_colour_images_are_supported():
    torch.manual_seed(0)
    model = Draw(ModelConfig(**{**SMALL, "height": 6, "width": 10, "channels": 3, "likelihood": "logistic"}))
    out = model(torch.rand(2, 3, 6, 10), record=True)
    assert out.trace.canvases.shape == (4, 2, 3, 6, 10)
    assert torch.isfinite(out.loss).all()


def test_first_read_puts_four_narrow_filters_half_way_to_the_edges_and_the_write_draws_sharp():
    model = Draw(ModelConfig())  # 28×28: read N=2, spanning stride 27; write N=5, stride 6.75
    h_dec = torch.zeros(1, 256)  # h^dec_0: the first glimpse comes from the biases alone
    read = att.attention_params(model.read_attention(h_dec), 28, 28, 2)
    write = att.attention_params(model.write_attention(h_dec), 28, 28, 5)
    assert read.delta.item() == pytest.approx(13.5)  # half the spanning stride: centres 6.75 px from g
    assert torch.allclose(att.filter_centres(read.gx, read.delta, 2) - read.gx, torch.tensor([[-6.75, 6.75]]))
    assert read.sigma2.sqrt().item() == pytest.approx(0.16 * 13.5)  # 2.16 px
    assert write.delta.item() == pytest.approx(6.75, rel=0.1)  # the write's grid still spans the image
    assert write.sigma2.sqrt().item() == pytest.approx(0.25 * 6.75)  # 1.69 px
    plain = Draw(ModelConfig(read_sigma_init=0, write_sigma_init=0, read_stride_init=1))
    for layer in (plain.read_attention, plain.write_attention):
        assert abs(layer.bias[2].item()) < 0.1 and abs(layer.bias[3].item()) < 0.1  # PyTorch's default


def test_a_run_configured_before_the_read_grid_settings_reopens_with_its_old_initialisation():
    old = RunConfig.from_dict({"model": {"T": 4, "attention_sigma_init": 0.5}})
    assert (old.model.read_stride_init, old.model.read_sigma_init, old.model.write_sigma_init) == (1.0, 0.5, 0.5)
    model = Draw(old.model)
    assert model.read_attention.bias[2].item() == pytest.approx(2 * math.log(0.5 * 27))
    assert model.write_attention.bias[2].item() == pytest.approx(2 * math.log(0.5 * 6.75))
    assert abs(model.read_attention.bias[3].item()) < 0.1  # the paper's grid, spanning the image
    with pytest.raises(ConfigError, match="read_stride_init"):
        RunConfig.from_dict({"model": {"read_stride_init": 0}})


def test_a_run_configured_before_the_intensities_had_settings_reopens_with_both_at_one():
    oldest = RunConfig.from_dict({"model": {"T": 4, "attention_sigma_init": 0.5}})
    assert (oldest.model.read_gamma_init, oldest.model.write_gamma_init) == (1.0, 1.0)
    model = Draw(oldest.model)
    for layer in (model.read_attention, model.write_attention):
        assert abs(layer.bias[4].item()) < 0.1  # log γ near 0: PyTorch's default bias, γ ≈ 1
    newer = RunConfig.from_dict({"model": {"T": 4, "attention_sigma_init": 0.5, "read_gamma_init": 50.0}})
    assert (newer.model.read_gamma_init, newer.model.write_gamma_init) == (50.0, 1.0)
