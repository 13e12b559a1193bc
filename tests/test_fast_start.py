"""The attention model uses its latents from the start: with the read's glimpses at the old
intensity (γ = 1) the encoder's input barely differs between images, and after a few hundred
steps the KL has collapsed to a fraction of a nat; the default initialisation keeps it well
above that (measured on this setting: 0.27 and 0.28 nats with γ = 1, 1.71 and 1.67 with the
default, seeds 0 and 1)."""

import math

import pytest

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.model.draw import Draw
from drawstudio.train.trainer import Trainer


def test_the_read_starts_at_the_default_intensity_and_gamma_one_keeps_the_old_initialisation():
    model = Draw(ModelConfig())
    assert model.read_attention.bias[4].item() == pytest.approx(math.log(ModelConfig().read_gamma_init))
    assert ModelConfig().read_gamma_init > 1
    old = Draw(ModelConfig(read_gamma_init=1.0))
    assert abs(old.read_attention.bias[4].item()) < 0.1  # PyTorch's default bias: γ ≈ 1


def test_the_latents_carry_information_after_200_steps_on_real_mnist(shared_data):
    config = RunConfig(
        model=ModelConfig(T=8, enc_size=64, dec_size=64, z_size=20),
        train=TrainConfig(dataset="mnist", data_dir=str(shared_data / "mnist"), batch_size=32, steps=200,
                          eval_every=0, eval_images=500, seed=0),
    )
    trainer = Trainer(config, None)
    while not trainer.finished:
        trainer.train_step()
    kl = trainer.evaluate("test", 500, log=False)["kl"]
    assert kl > 1.0, f"KL {kl:.2f} nats: the latents collapsed"
