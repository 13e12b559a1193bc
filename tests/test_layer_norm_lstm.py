"""`--layer-norm`: the layer-normalised LSTM of Ba et al. 2016 (eq. 20-22) in DRAW's encoder and
decoder, a variant beyond the paper that trains on the plain path."""

from __future__ import annotations

import json

import pytest
import torch

from drawstudio.config import ModelConfig
from drawstudio.model.draw import Draw
from drawstudio.model.layer_norm_lstm import LayerNormLSTMCell
from drawstudio.train.objective import Objective


def test_one_step_matches_eq_20_to_22_computed_by_hand():
    cell = LayerNormLSTMCell(input_size=1, hidden_size=2)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.arange(1.0, 9.0).view(8, 1))  # W_x x = 1..8 for x = 1
        cell.weight_hh.zero_()
        cell.weight_hh[7, 0] = 4.0  # W_h h = (0, …, 0, 4) for h = (1, 0)
        cell.bias.zero_()
        cell.gain_cell.copy_(torch.tensor([2.0, 0.5]))
        cell.bias_cell.copy_(torch.tensor([0.1, 0.0]))
    h, c = cell(torch.tensor([[1.0]]), (torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -0.5]])))
    # eq. 20: LN(1..8) = (k − 4.5) / √5.25 = −1.52752 … 1.52752; LN(0,…,0,4): mean 0.5, variance 1.75,
    # so −0.37796 seven times and 2.64574; their sum: i = (−1.90549, −1.46905), f = (−1.03262, −0.59618),
    # g = (−0.15975, 0.27669), o = (0.71313, 4.17327)
    # eq. 21: c = σ(f)·(0.5, −0.5) + σ(i)·tanh(g) = (0.26258·0.5 − 0.12951·0.15840, …) = (0.110777, −0.127126)
    assert torch.allclose(c, torch.tensor([[0.110777, -0.127126]]), atol=1e-5)
    # eq. 22: LN(c) = (0.99965, −0.99965) (two values, ε = 1e-5 beside a variance of 0.01415);
    # h = σ(o)·tanh(α₃ LN(c) + β₃) = (0.67110·tanh(2.09929), 0.98484·tanh(−0.49982))
    assert torch.allclose(h, torch.tensor([[0.651234, -0.454971]]), atol=1e-5)


def test_the_normalisation_makes_a_step_blind_to_the_scale_of_its_weights():
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(input_size=3, hidden_size=4)
    x, state = torch.randn(5, 3), (torch.randn(5, 4), torch.randn(5, 4))
    h, c = cell(x, state)
    with torch.no_grad():
        cell.weight_ih.mul_(7.0)
        cell.weight_hh.mul_(3.0)
    h_scaled, c_scaled = cell(x, state)
    assert torch.allclose(h, h_scaled, atol=1e-4) and torch.allclose(c, c_scaled, atol=1e-4)


def small(**extra) -> ModelConfig:
    return ModelConfig(T=3, enc_size=8, dec_size=8, z_size=2, layer_norm=True, **extra)


@pytest.mark.parametrize("extra", [{}, {"num_classes": 3}, {"attention": False}])
def test_a_layer_norm_model_trains_its_gains_on_the_plain_path_even_when_fused_is_asked_for(extra):
    torch.manual_seed(0)
    model = Draw(small(**extra))
    assert isinstance(model.encoder, LayerNormLSTMCell) and isinstance(model.decoder, LayerNormLSTMCell)
    objective = Objective(model, fused=True)
    assert not objective.fused
    x = torch.rand(4, 1, 28, 28).round()
    labels = torch.tensor([0, 1, 2, 0]) if extra.get("num_classes") else None
    noise = torch.randn(3, 4, 2)
    loss = objective(x, labels, noise).loss
    assert torch.equal(loss, model(x, labels, noise).loss)
    loss.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in (model.encoder.gain_ih, model.encoder.gain_cell, model.decoder.gain_hh))


def test_the_paper_model_keeps_the_fused_path():
    assert Objective(Draw(ModelConfig(T=3, enc_size=8, dec_size=8, z_size=2)), fused=True).fused


def test_the_flag_makes_a_layer_norm_run_and_the_run_resumes_as_one(tmp_path, run_cli, tiny_train_argv):
    run = tmp_path / "ln"
    code, err = run_cli(*tiny_train_argv(run, "--steps", "2", "--layer-norm"))
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["model"]["layer_norm"] is True
    code, err = run_cli(*tiny_train_argv(run, "--steps", "3"))
    assert code == 0, err
    from drawstudio.train import checkpoint as ckpt

    state = ckpt.load_checkpoint(ckpt.checkpoint_path(run, 3))
    assert state["step"] == 3 and "encoder.gain_cell" in state["model"]
