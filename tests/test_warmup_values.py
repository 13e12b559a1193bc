"""The warm-up objective and the objective module as numbers: what the optimiser minimises
during warm-up, and that the objective passes labels, noise and importance through."""

import pytest
import torch

from drawstudio.config import ModelConfig
from drawstudio.model.draw import Draw, DrawOutput
from drawstudio.train import objective as objective_module
from drawstudio.train.objective import Objective
from drawstudio.train.warmup import training_loss


def output() -> DrawOutput:
    recon = torch.tensor([1.0, 2.0])
    kl = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # per-image KL sums 3 and 7
    return DrawOutput(recon=recon, kl=kl, log_ratio=None, trace=None)


def test_warm_up_objective_adds_the_weighted_kl_sum_of_each_image_to_its_recon():
    # step 1 of 4: w = 0.25, so images cost 1 + 0.75 and 2 + 1.75
    assert training_loss(output(), step=1, warmup_steps=4).item() == pytest.approx(2.75)
    assert training_loss(output(), step=0, warmup_steps=4).item() == pytest.approx(1.5)  # recon only


def test_warm_objective_is_the_mean_bound():
    assert training_loss(output(), step=4, warmup_steps=4).item() == pytest.approx((4 + 9) / 2)


def conditional_model() -> Draw:
    torch.manual_seed(0)
    return Draw(ModelConfig(T=2, enc_size=8, dec_size=8, z_size=3, num_classes=3, read_n=2, write_n=2))


@pytest.mark.parametrize("fused", [False, True])
def test_objective_gives_the_model_s_numbers_for_the_given_labels_and_noise(fused):
    model = conditional_model()
    x = torch.rand(2, 1, 28, 28)
    labels, noise = torch.tensor([0, 2]), torch.randn(2, 2, 3)
    expected = model(x, labels, noise, importance=True)
    got = Objective(model, fused)(x, labels, noise, importance=True)
    torch.testing.assert_close(got.recon, expected.recon)
    torch.testing.assert_close(got.kl, expected.kl)
    torch.testing.assert_close(got.log_ratio, expected.log_ratio)
    other_labels = Objective(model, fused)(x, torch.tensor([1, 1]), noise, importance=True)
    assert not torch.allclose(other_labels.kl, expected.kl)  # the labels reach the model


@pytest.mark.parametrize("fused", [False, True])
def test_objective_computes_no_importance_ratio_unless_asked(fused):
    model = conditional_model()
    out = Objective(model, fused)(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))
    assert out.log_ratio is None


def test_fused_objective_runs_the_fused_path_and_the_plain_one_does_not(monkeypatch):
    calls = []
    real = objective_module.fused_forward
    monkeypatch.setattr(objective_module, "fused_forward", lambda *a: calls.append(a) or real(*a))
    model, x, labels = conditional_model(), torch.rand(2, 1, 28, 28), torch.tensor([0, 1])
    Objective(model, False)(x, labels)
    assert calls == []
    Objective(model, True)(x, labels)
    assert len(calls) == 1
