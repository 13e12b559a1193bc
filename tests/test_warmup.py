"""KL warm-up: the KL's weight in the training objective rises linearly to 1 at a stated step,
and only the gradient sees it: the logged loss is the true bound at every step."""

import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.train.trainer import Trainer
from drawstudio.train.warmup import kl_weight


def test_the_kl_weight_rises_linearly_and_is_one_from_the_stated_step():
    assert [kl_weight(step, 300) for step in (0, 150, 299, 300, 10_000)] == [0.0, 0.5, 299 / 300, 1.0, 1.0]
    assert kl_weight(0, 0) == 1.0  # off


def run(shared_data, warmup: int) -> Trainer:
    config = RunConfig(
        model=ModelConfig(T=3, enc_size=16, dec_size=16, z_size=4),
        train=TrainConfig(dataset="mnist", data_dir=str(shared_data / "mnist"), batch_size=8, steps=2,
                          eval_every=0, kl_warmup_steps=warmup),
    )
    trainer = Trainer(config, None)
    records = []
    trainer.events.connect(records.append)
    while not trainer.finished:
        trainer.advance()
    trainer.records = records
    return trainer


def test_warm_up_changes_the_update_but_the_logged_loss_stays_the_true_bound(shared_data):
    warm, plain = run(shared_data, warmup=10), run(shared_data, warmup=0)
    for a, b in zip(warm.records, plain.records):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(a["recon"] + a["kl"])
    assert warm.records[0]["loss"] == plain.records[0]["loss"]  # same weights and batch at step 0: same bound
    changed = [not torch.equal(p, q) for p, q in zip(warm.model.parameters(), plain.model.parameters())]
    assert any(changed)  # the weight 0 at step 0 took the KL out of the first update
