"""The trainer's bookkeeping as values, on a tiny model and synthetic images: the logged
averages, when evaluations and checkpoints fall due, what a resumed run records, and the
one-line refusals of data that does not fit the model."""

import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.errors import ConfigError
from drawstudio.train.metrics import read_metrics
from drawstudio.train.trainer import Trainer


def synthetic(n: int = 16, size: int = 8, classes: int = 0, valid: bool = False) -> ImageData:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.arange(n) % classes if classes else None
    return ImageData("synthetic", TensorImageSet(images, labels), TensorImageSet(images[:6]),
                     valid=TensorImageSet(images[6:10]) if valid else None,
                     classes=[str(i) for i in range(classes)] if classes else None)


def config(**train) -> RunConfig:
    settings = dict(dataset="mnist", batch_size=4, steps=4, eval_every=0, eval_images=6, autosave_seconds=3600)
    return RunConfig(ModelConfig(T=2, height=8, width=8, read_n=2, write_n=2, enc_size=8, dec_size=8, z_size=3),
                     TrainConfig(**{**settings, **train}))


def train(run_config: RunConfig, run_dir=None, data: ImageData | None = None) -> tuple[Trainer, list[dict]]:
    trainer = Trainer(run_config, run_dir, data=data or synthetic())
    records: list[dict] = []
    trainer.events.connect(records.append)
    while not trainer.finished:
        trainer.advance()
    return trainer, records


def kinds(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r["kind"] == kind]


def test_a_logged_line_averages_the_steps_since_the_last_one_and_the_last_step_is_always_logged():
    _, every_step = train(config(steps=5, log_every=1))
    _, averaged = train(config(steps=5, log_every=2))
    single, lines = kinds(every_step, "train"), kinds(averaged, "train")
    assert [r["step"] for r in lines] == [2, 4, 5]
    for line, steps in zip(lines, ([0, 1], [2, 3], [4])):
        for key in ("loss", "recon", "kl", "grad_norm"):
            assert line[key] == pytest.approx(sum(single[i][key] for i in steps) / len(steps), rel=1e-5), key
        for t in range(2):
            assert line["kl_t"][t] == pytest.approx(sum(single[i]["kl_t"][t] for i in steps) / len(steps), rel=1e-5)
        assert line["kl"] == pytest.approx(sum(line["kl_t"]), rel=1e-6)
        assert line["loss"] == pytest.approx(line["recon"] + line["kl"], rel=1e-5)


def test_a_logged_line_says_the_epoch_the_rate_and_the_speed():
    trainer, records = train(config(steps=3, lr=2e-3, lr_decay=0.5, decay_every=2))
    lines = kinds(records, "train")
    assert [r["epoch"] for r in lines] == [0.25, 0.5, 0.75]  # 4 of 16 images per step
    assert [r["lr"] for r in lines] == pytest.approx([2e-3, 2e-3 * 0.5 ** 0.5, 1e-3])  # the rate each step used
    assert all(r["images_per_s"] > 0 and r["elapsed"] >= 0 for r in lines)
    assert lines[-1]["elapsed"] == round(trainer.elapsed, 3) and trainer.epoch == 0.75
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_evaluations_fall_on_step_zero_and_every_eval_every_steps_and_the_run_ends_with_a_checkpoint(tmp_path):
    _, records = train(config(steps=4, eval_every=2), tmp_path / "run")
    evals = kinds(records, "eval")
    assert [(r["step"], r["split"], r["images"]) for r in evals] == [(0, "test", 6), (2, "test", 6), (4, "test", 6)]
    assert [r["plateau_stale"] for r in evals][0] == 0
    assert [(r["step"], r["file"]) for r in kinds(records, "checkpoint")] == [(4, "step-000000004.pt")]
    assert read_metrics(tmp_path / "run" / "metrics.jsonl") == records


def test_with_a_validation_split_the_test_bound_is_logged_and_the_validation_bound_is_watched():
    _, records = train(config(steps=2, eval_every=2), data=synthetic(valid=True))
    evals = kinds(records, "eval")
    assert [(r["step"], r["split"], "plateau_stale" in r) for r in evals] == [
        (0, "test", False), (0, "valid", True), (2, "test", False), (2, "valid", True)]
    assert evals[1]["images"] == 4


def test_a_stalled_held_out_bound_records_the_plateau_lowering_after_the_evaluation(monkeypatch):
    bounds = iter([5.0, 6.0, 7.0])
    real = Trainer.evaluate

    def scripted(self, *args, **kwargs):
        record = real(self, *args, **kwargs)
        record["nll"] = next(bounds)
        return record

    monkeypatch.setattr(Trainer, "evaluate", scripted)
    trainer, records = train(config(steps=2, eval_every=1, plateau_patience=2, plateau_factor=0.5))
    assert [(r["kind"], r["step"]) for r in records if r["kind"] in ("eval", "schedule")] == [
        ("eval", 0), ("eval", 1), ("eval", 2), ("schedule", 2)]
    assert [r["plateau_stale"] for r in kinds(records, "eval")] == [0, 1, 0]
    assert trainer.lr == pytest.approx(0.5e-3)


def test_autosave_writes_a_checkpoint_once_its_time_has_passed(tmp_path):
    _, records = train(config(steps=3, autosave_seconds=1e-9), tmp_path / "run")
    assert [r["step"] for r in kinds(records, "checkpoint")] == [1, 2, 3]


def test_a_resumed_run_records_where_it_resumed_and_the_schedule_it_restored(tmp_path):
    run = tmp_path / "run"
    first, _ = train(config(steps=2, lr=2e-3), run)
    first.change_schedule(decay=0.5)
    first.save_checkpoint()
    first.close()
    resumed = Trainer(config(steps=3, lr=2e-3), run, data=synthetic())
    assert resumed.step == 2 and resumed.resumed_from.name == "step-000000002.pt"
    last = read_metrics(run / "metrics.jsonl")[-1]
    assert last == {"kind": "resume", "step": 2, "checkpoint": "step-000000002.pt",
                    "schedule": [{"start": 0, "lr": 2e-3, "decay": 1.0, "every": 1000},
                                 {"start": 2, "lr": 2e-3, "decay": 0.5, "every": 1000}]}


def test_steps_logged_before_a_first_checkpoint_are_marked_lost_by_a_resume_at_step_zero(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(config(steps=3), run, data=synthetic())
    trainer.advance()
    trainer.close()  # killed before any checkpoint
    Trainer(config(steps=3), run, data=synthetic()).close()
    raw = (run / "metrics.jsonl").read_text().splitlines()
    assert raw[-1] == '{"kind": "resume", "step": 0, "checkpoint": null}'
    fresh = tmp_path / "fresh"
    Trainer(config(steps=3), fresh, data=synthetic()).close()
    assert not (fresh / "metrics.jsonl").exists() or (fresh / "metrics.jsonl").read_text() == ""


def test_images_of_another_size_are_refused_naming_both_shapes():
    with pytest.raises(ConfigError, match=r"^dataset 'synthetic' has 1x6x6 images \(channels x height x width\); "
                                          r"the model is set up for 1x8x8$"):
        Trainer(config(), None, data=synthetic(size=6))


def test_a_conditional_model_needs_as_many_class_labels_as_it_has_classes():
    conditional = config()
    conditional.model.num_classes = 3
    with pytest.raises(ConfigError, match="^num_classes=3: dataset 'synthetic' has no class labels$"):
        Trainer(conditional, None, data=synthetic())
    with pytest.raises(ConfigError, match="^num_classes=3: dataset 'synthetic' has 2 class labels$"):
        Trainer(conditional, None, data=synthetic(classes=2))
    assert Trainer(conditional, None, data=synthetic(classes=3)).batch()[1].tolist() != []


def test_a_batch_larger_than_the_training_split_is_refused_naming_both():
    with pytest.raises(ConfigError, match="^batch_size=20 is larger than the 16 training images of 'synthetic'$"):
        Trainer(config(batch_size=20), None, data=synthetic())
    assert Trainer(config(batch_size=16), None, data=synthetic()).batch()[0].shape == (16, 1, 8, 8)


def test_a_batch_of_a_conditional_run_carries_the_labels_of_its_images():
    conditional = config(binarize="none")
    conditional.model.num_classes = 4
    data = synthetic(classes=4)
    trainer = Trainer(conditional, None, data=data)
    x, labels = trainer.batch()
    for image, label in zip(x, labels):
        index = next(i for i in range(16) if torch.equal(data.train.data[i].float() / 255, image))
        assert label.item() == index % 4
    assert Trainer(config(), None, data=synthetic()).batch()[1] is None
