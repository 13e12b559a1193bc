"""The attention model uses its latents from the start. Measured on the setting below (200 steps,
one thread, bound on 500 test images): with the old initialisation (read and write γ = 1) the
encoder's glimpses barely differ between images and the writes barely move the canvas: KL 0.28
nats, bound 214.7. With the intensities but the read's grid spanning the image and both filters
half a stride wide: KL 3.1, bound 202.0. With the default start (the read's four narrow filters
half-way to the edges, a sharp write): KL 7.0, bound 185.7."""

import math

import pytest

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.model.draw import Draw
from drawstudio.train.trainer import Trainer


def test_read_and_write_start_at_the_default_intensities_and_gamma_one_keeps_the_old_initialisation():
    model, defaults = Draw(ModelConfig()), ModelConfig()
    assert model.read_attention.bias[4].item() == pytest.approx(math.log(defaults.read_gamma_init))
    assert model.write_attention.bias[4].item() == pytest.approx(math.log(defaults.write_gamma_init))
    assert defaults.read_gamma_init > 1 > defaults.write_gamma_init  # brighter glimpses, stronger writes
    old = Draw(ModelConfig(read_gamma_init=1.0, write_gamma_init=1.0))
    for layer in (old.read_attention, old.write_attention):
        assert abs(layer.bias[4].item()) < 0.1  # PyTorch's default bias: γ ≈ 1


def test_the_latents_carry_information_after_200_steps_on_real_mnist(shared_data):
    config = RunConfig(
        model=ModelConfig(T=8, enc_size=64, dec_size=64, z_size=20),
        train=TrainConfig(dataset="mnist", data_dir=str(shared_data / "mnist"), batch_size=32, steps=200,
                          eval_every=0, eval_images=500, seed=0, threads=1),
    )
    trainer = Trainer(config, None)
    while not trainer.finished:
        trainer.train_step()
    result = trainer.evaluate("test", 500, log=False)
    assert result["kl"] > 5, f"KL {result['kl']:.2f} nats: the latents are barely used"
    assert result["nll"] < 195, result
