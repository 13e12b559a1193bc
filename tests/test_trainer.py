"""The trainer on the real MNIST files: learning, schedule changes, checkpoints, exact resume."""

import json
import math

import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.errors import CheckpointError, ConfigError, NonFiniteError
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics
from drawstudio.train.runs import open_run
from drawstudio.train.evaluation import eval_subset
from drawstudio.train.trainer import Trainer


@pytest.fixture
def small_config(shared_data):
    return RunConfig(
        model=ModelConfig(T=6, enc_size=64, dec_size=64, z_size=10),
        train=TrainConfig(dataset="mnist", data_dir=str(shared_data / "mnist"), batch_size=32, steps=12, eval_every=0,
                          eval_images=200),
    )


def test_loss_falls_clearly_when_training_a_few_hundred_steps_on_real_mnist(small_config):
    small_config.model.T = 8
    small_config.train.steps = 150
    small_config.train.lr = 2e-3
    trainer = Trainer(small_config, None)
    before = trainer.evaluate("test", 500, log=False)["nll"]
    while not trainer.finished:
        trainer.advance()
    after = trainer.evaluate("test", 500, log=False)["nll"]
    assert before > 400  # an untrained model is near 784 · ln 2 ≈ 543 nats
    assert after < 0.5 * before, (before, after)


def test_learning_rate_change_takes_effect_at_the_next_step_and_is_recorded(small_config, tmp_path):
    trainer = Trainer(small_config, tmp_path / "run")
    trainer.advance()
    trainer.change_schedule(lr=3e-4, decay=0.5, every=10)
    trainer.advance()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)
    trainer.advance()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(3e-4 * 0.5 ** (1 / 10))
    changes = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "schedule"]
    assert changes == [{"kind": "schedule", "step": 1, "lr": 3e-4, "decay": 0.5, "every": 10}]


def test_impossible_schedule_change_is_refused_before_training_sees_it(small_config):
    trainer = Trainer(small_config, None)
    with pytest.raises(ConfigError, match="lr=-1"):
        trainer.change_schedule(lr=-1.0)
    with pytest.raises(ConfigError, match="lr_decay=1.5"):
        trainer.change_schedule(decay=1.5)


def test_checkpoint_round_trip_restores_every_part_of_the_state(small_config, tmp_path):
    trainer = Trainer(small_config, tmp_path / "run")
    for _ in range(3):
        trainer.advance()
    path = trainer.save_checkpoint()
    restored = open_run(tmp_path / "run")
    assert restored.step == 3 and restored.resumed_from == path
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, restored.model.state_dict()[name]), name
    assert restored.sampler.state_dict() == trainer.sampler.state_dict()
    assert restored.segments == trainer.segments
    saved = torch.load(path, weights_only=True)
    assert saved["optimizer"]["state"].keys() == trainer.optimizer.state_dict()["state"].keys()


def test_resuming_continues_exactly_where_training_stopped(small_config, tmp_path):
    # bit-for-bit needs a fixed thread count: matrix products sum in another order on more threads
    small_config.train.threads = 2
    straight = Trainer(small_config, tmp_path / "straight")
    while not straight.finished:
        straight.advance()

    first = Trainer(small_config, tmp_path / "resumed")
    for _ in range(5):
        first.advance()
    first.save_checkpoint()
    first.close()
    second = Trainer(small_config, tmp_path / "resumed")
    assert second.step == 5
    while not second.finished:
        second.advance()

    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[name]), name
    losses = lambda run: [r["loss"] for r in read_metrics(tmp_path / run / "metrics.jsonl") if r["kind"] == "train"]
    assert losses("straight") == losses("resumed")


def test_metrics_lost_to_a_kill_after_the_checkpoint_are_replaced_on_resume(small_config, tmp_path):
    first = Trainer(small_config, tmp_path / "run")
    for _ in range(3):
        first.advance()
    first.save_checkpoint()
    for _ in range(4):  # steps 4-7 are logged but never checkpointed: a kill loses them
        first.advance()
    first.close()
    second = Trainer(small_config, tmp_path / "run")
    while not second.finished:
        second.advance()
    steps = [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "train"]
    assert steps == list(range(1, 13))


def test_non_finite_loss_leaves_weights_and_optimiser_untouched(small_config):
    trainer = Trainer(small_config, None)
    trainer.advance()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    moments = trainer.optimizer.state_dict()["state"][0]["exp_avg"].clone()
    with torch.no_grad():
        trainer.model.write_layer.bias[0] = float("inf")  # the next loss is inf or NaN
    bad = trainer.model.write_layer.bias.detach().clone()
    with pytest.raises(NonFiniteError, match="not finite"):
        trainer.advance()
    after = trainer.model.state_dict()
    for name, value in before.items():
        if name != "write_layer.bias":
            assert torch.equal(value, after[name]), name
    assert torch.equal(trainer.model.write_layer.bias, bad)
    assert torch.equal(trainer.optimizer.state_dict()["state"][0]["exp_avg"], moments)
    assert trainer.step == 1


def test_a_checkpoint_for_another_architecture_is_refused_by_name(small_config, tmp_path):
    trainer = Trainer(small_config, tmp_path / "run")
    trainer.advance()
    path = trainer.save_checkpoint()
    state = torch.load(path, weights_only=True)
    other = RunConfig.from_dict(state["config"])
    other.model.z_size = 11
    fresh = Trainer(other, None)
    with pytest.raises(CheckpointError, match="different model.*z_size=10 there, 11 here"):
        fresh.load_state(path, state)


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(small_config, tmp_path):
    trainer = Trainer(small_config, tmp_path / "run")
    trainer.advance()
    trainer.save_checkpoint()
    trainer.advance()
    newest = trainer.save_checkpoint()
    newest.write_bytes(newest.read_bytes()[:1000])
    trainer.close()
    resumed = Trainer(small_config, tmp_path / "run")
    assert resumed.step == 1
    assert "corrupt or truncated" in resumed.skipped_checkpoints[0]


def test_only_the_newest_checkpoints_are_kept(small_config, tmp_path):
    trainer = Trainer(small_config, tmp_path / "run")
    for _ in range(4):
        trainer.advance()
        trainer.save_checkpoint()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-000000004.pt", "step-000000003.pt"]


def test_run_directory_holds_config_metrics_and_checkpoints(small_config, tmp_path):
    trainer = Trainer(small_config, tmp_path / "run")
    while not trainer.finished:
        trainer.advance()
    assert RunConfig.load(tmp_path / "run" / "config.json") == small_config
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert kinds.count("train") == 12 and kinds[-1] == "checkpoint"
    assert ckpt.list_checkpoints(tmp_path / "run")[0].name == "step-000000012.pt"


def test_importance_weighted_bound_with_one_sample_equals_the_bound(small_config):
    trainer = Trainer(small_config, None)
    one = trainer.evaluate("test", 64, iw_samples=1, log=False)
    assert "iw_nll" not in one
    many = trainer.evaluate("test", 64, iw_samples=8, log=False)
    assert many["iw_nll"] <= many["nll"]


def test_snapshot_holds_every_step_for_the_studio(small_config):
    trainer = Trainer(small_config, None)
    snap = trainer.snapshot(n_recon=4, n_samples=3)
    assert snap.reconstructions.shape == (6, 4, 1, 28, 28)
    assert snap.samples.shape == (6, 3, 1, 28, 28)
    assert snap.read.gx.shape == (6, 4) and snap.write.n == 5
    assert snap.read_glimpses.shape == (6, 4, 2, 1, 2, 2)
    assert snap.kl_per_step.shape == (6,)
    assert snap.reconstructions.dtype == snap.samples.dtype == "float32"


def test_running_out_of_memory_is_a_user_error_that_says_what_needed_it(small_config, monkeypatch):
    trainer = Trainer(small_config, None)

    def exhausted(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4000000000000 bytes")

    monkeypatch.setattr(trainer, "objective", exhausted)
    with pytest.raises(ConfigError, match="out of memory during a training step at batch_size=32"):
        trainer.train_step()


def test_eval_subset_is_a_fixed_random_sample_spread_over_the_split_not_its_first_images():
    chosen = eval_subset(10_000, 2_000, seed=0)
    assert len(chosen) == 2_000 and len(set(chosen.tolist())) == 2_000
    assert (chosen >= 5_000).sum() > 800  # MNIST's first half is the cleaner one: both halves are sampled
    assert torch.equal(chosen, eval_subset(10_000, 2_000, seed=0))  # every evaluation of a run: the same images
    assert not torch.equal(chosen, eval_subset(10_000, 2_000, seed=1))
    assert torch.equal(eval_subset(50, 50, seed=3), torch.arange(50))  # the whole split, in order


def test_evaluation_of_fewer_images_uses_the_subset_and_says_so(small_config):
    trainer = Trainer(small_config, None)
    total = len(trainer.eval_set("test").images)
    part = trainer.evaluate("test", max_images=total // 4, log=False)
    assert part["images"] == total // 4
    assert f"random {total // 4} of the {total} test images" in part["subset"]
    assert part == {**trainer.evaluate("test", max_images=total // 4, log=False), "seconds": part["seconds"]}
    assert "subset" not in trainer.evaluate("test", log=False)


def test_importance_weighted_bound_of_each_image_uses_only_that_image_s_samples(small_config, monkeypatch):
    from drawstudio.train import objective as objective_module

    # a dark starting canvas (σ(−4) ≈ 0.02) makes a blank image cheap and an all-ink one dear
    small_config.model = ModelConfig(T=2, enc_size=16, dec_size=16, z_size=4, canvas_init=-4.0)
    trainer = Trainer(small_config, None)
    seen = []
    original = objective_module.fused_forward

    def recording_forward(model, x, labels, noise, importance):
        out = original(model, x, labels, noise, importance=importance)
        seen.append((x, out))
        return out

    monkeypatch.setattr(objective_module, "fused_forward", recording_forward)
    images = trainer.eval_set("test").images[:3].clone()
    images[1], images[2] = 0.0, 1.0
    k = 5
    c = trainer.config.model
    noise = torch.randn(c.T, 3 * k, c.z_size, generator=torch.Generator().manual_seed(0))
    bound, _, _, iw = trainer.evaluation.bounds(images, None, k, noise)
    (repeated, out), = seen
    assert repeated.shape[0] == 3 * k
    for b in range(3):
        # the samples of image b are found by their pixels, whatever order the trainer stacks them in
        mine = [i for i in range(3 * k) if torch.equal(repeated[i], images[b])]
        assert len(mine) == k
        log_w = -(out.recon[mine] + out.log_ratio[mine]).double()  # log p(x, z_k) / q(z_k | x)
        by_hand = -math.log(sum(math.exp(w - log_w.max().item()) for w in log_w.tolist()) / k) - log_w.max().item()
        assert iw[b].item() == pytest.approx(by_hand, rel=1e-5)
        assert bound[b].item() == pytest.approx(out.loss[mine].double().mean().item(), rel=1e-5)
    assert bound[1].item() + 100 < bound[0].item() < bound[2].item() - 100  # so grouping matters


@pytest.mark.parametrize("clip", [0.05, 0.0], ids=["clipped", "clipping-off"])
def test_gradient_reaching_the_optimiser_has_at_most_the_clip_norm(small_config, clip):
    small_config.model = ModelConfig(T=2, enc_size=16, dec_size=16, z_size=4)
    small_config.train.grad_clip = clip
    trainer = Trainer(small_config, None)
    params = trainer.optimizer.param_groups[0]["params"]
    norms = []
    step = trainer.optimizer.step

    def measuring_step(*args, **kwargs):
        norms.append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))
        return step(*args, **kwargs)

    trainer.optimizer.step = measuring_step
    record = trainer.train_step()
    assert record is not None and len(norms) == 1
    before = record["grad_norm"]  # the record keeps the norm before clipping
    assert before > 1.0  # an untrained model's gradient: far above the clip
    assert norms[0].item() == pytest.approx(clip if clip else before, rel=1e-4)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_evaluation_runs_the_path_the_run_trains_with(small_config, monkeypatch, fused):
    from drawstudio.train import objective as objective_module

    small_config.model = ModelConfig(T=2, enc_size=16, dec_size=16, z_size=4)
    small_config.train.fused = fused
    trainer = Trainer(small_config, None)
    calls = []
    original = objective_module.fused_forward
    monkeypatch.setattr(objective_module, "fused_forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    record = trainer.evaluate("test", 50, log=False)
    assert math.isfinite(record["nll"]) and record["images"] == 50
    assert bool(calls) == fused
