"""The trainer's bookkeeping as values, on a tiny model and synthetic images: the logged
averages, when evaluations and checkpoints fall due, what a resumed run records, and the
one-line refusals of data that does not fit the model."""

import dataclasses
import math

import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.errors import CheckpointError, ConfigError, DataError, NonFiniteError, RunDirError
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics
from drawstudio.train.trainer import Trainer
from test_evaluation_values import ComposedSet


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


def test_a_run_with_a_decay_start_trains_at_its_rate_until_then_and_decays_after():
    _, records = train(config(steps=4, lr=2e-3, lr_decay=0.5, decay_every=1, decay_start=2))
    assert [r["lr"] for r in kinds(records, "train")] == pytest.approx([2e-3, 2e-3, 2e-3, 1e-3])


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


def script_bounds(monkeypatch, bounds: list[float]) -> None:
    """Make the trainer's evaluations report `bounds`, in order (the model trains normally)."""
    queue = iter(bounds)
    real = Trainer.evaluate

    def scripted(self, *args, **kwargs):
        record = real(self, *args, **kwargs)
        record["nll"] = next(queue)
        return record

    monkeypatch.setattr(Trainer, "evaluate", scripted)


def test_a_stalled_held_out_bound_records_the_plateau_lowering_after_the_evaluation(monkeypatch):
    script_bounds(monkeypatch, [5.0, 6.0, 7.0])
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
                    "schedule": [{"start": 0, "lr": 2e-3, "decay": 1.0, "every": 1000, "decay_start": 0},
                                 {"start": 2, "lr": 2e-3, "decay": 0.5, "every": 1000, "decay_start": 0}]}


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


# ---- construction ----------------------------------------------------------------------


def test_a_fresh_trainer_starts_at_zero_with_the_configured_optimiser_and_seed():
    run_config = config(adam_beta1=0.5, adam_beta2=0.9, seed=11, fused=False)
    trainer = Trainer(run_config, None, data=synthetic())
    assert (trainer.step, trainer.elapsed, trainer.skipped_checkpoints, trainer.resumed_from) == (0, 0.0, [], None)
    assert trainer.optimizer.param_groups[0]["betas"] == (0.5, 0.9)
    assert torch.initial_seed() == 11 and trainer.data_generator.initial_seed() == 11  # one process: not reseeded
    assert trainer.objective.fused is False and Trainer(config(), None, data=synthetic()).objective.fused is True
    assert repr(trainer.events) == "Event('record', 0 connected)"


def test_a_fixed_thread_count_is_applied_and_logged():
    threads = torch.get_num_threads()
    try:
        _, records = train(config(steps=1, threads=1))
        assert torch.get_num_threads() == 1 and kinds(records, "train")[0]["threads"] == 1
    finally:
        torch.set_num_threads(threads)


def write_png_folder(root, n: int = 8, size: int = 10) -> None:
    from PIL import Image

    root.mkdir()
    for i in range(n):
        pixels = (torch.arange(size * size * 3) * (i + 1) % 256).to(torch.uint8).view(size, size, 3).numpy()
        Image.fromarray(pixels, "RGB").save(root / f"{i}.png")


def test_a_folder_of_images_is_loaded_at_the_model_s_size_and_channels(tmp_path):
    write_png_folder(tmp_path / "images")
    trainer = Trainer(config(dataset=str(tmp_path / "images")), None)
    assert trainer.data.shape == (1, 8, 8) and len(trainer.data.train) + len(trainer.data.test) == 8


def test_model_sizes_that_cannot_be_allocated_are_a_user_error_saying_why(monkeypatch):
    from drawstudio.train import trainer as trainer_module

    def impossible(_config):
        raise RuntimeError("[enforce fail] can't allocate memory: you tried 99 GB. Buy more.\nsecond line")

    monkeypatch.setattr(trainer_module, "Draw", impossible)
    with pytest.raises(ConfigError) as raised:
        Trainer(config(), None, data=synthetic())
    assert str(raised.value) == "the model's sizes are impossible on cpu ([enforce fail] can't allocate memory: you tried 99 GB)"

    def bare(_config):
        raise MemoryError()

    monkeypatch.setattr(trainer_module, "Draw", bare)
    with pytest.raises(ConfigError, match=r"^the model's sizes are impossible on cpu \(MemoryError\)$"):
        Trainer(config(), None, data=synthetic())


# ---- run directory ---------------------------------------------------------------------


def test_a_nested_run_directory_is_created_with_its_config_and_history(tmp_path):
    run = tmp_path / "a" / "b" / "run"
    trainer, _ = train(config(steps=2), run)
    assert (run / "config.json").read_text() == trainer.config.to_json()
    assert sorted(p.name for p in (run / "history").iterdir()) == ["step-000000001.npz", "step-000000002.npz"]


def test_a_stale_or_damaged_config_file_is_rewritten_with_the_config_in_use(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(b"\xff\xfe not json")
    trainer = Trainer(config(), run, data=synthetic())
    assert (run / "config.json").read_text() == trainer.config.to_json()
    trainer.close()
    longer = config(steps=9)
    Trainer(longer, run, data=synthetic()).close()
    assert (run / "config.json").read_text() == longer.to_json()


def test_a_run_directory_that_cannot_be_made_is_a_run_dir_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunDirError, match=f"^{blocker / 'run'}: cannot write the run directory \\(Not a directory\\)$"):
        Trainer(config(), blocker / "run", data=synthetic())


def test_a_checkpoint_of_another_model_names_the_file_and_up_to_four_differences(tmp_path):
    run = tmp_path / "run"
    trainer, _ = train(config(steps=1), run)
    trainer.close()
    other = config()
    other.model = dataclasses.replace(other.model, T=3, enc_size=9, dec_size=10, z_size=4, read_n=3)
    with pytest.raises(CheckpointError) as raised:
        Trainer(other, run, data=synthetic())
    path = run / "checkpoints" / "step-000000001.pt"
    assert str(raised.value) == (f"{path}: checkpoint is for a different model (T=2 there, 3 here; read_n=2 there, "
                                 "3 here; enc_size=8 there, 9 here; dec_size=8 there, 10 here)")


def test_a_damaged_training_state_names_the_file_and_the_problem(tmp_path):
    run = tmp_path / "run"
    trainer, _ = train(config(steps=1), run)
    path = run / "checkpoints" / "step-000000001.pt"
    state = ckpt.load_checkpoint(path)
    state["sampler"] = {"epoch": -1, "position": 0}
    with pytest.raises(CheckpointError, match=f"^{path}: damaged training state \\(sampler state"):
        trainer.load_state(path, state)
    state = ckpt.load_checkpoint(path)
    state["model"] = {}
    with pytest.raises(CheckpointError, match=f"^{path}: checkpoint is for a different model \\(missing"):
        trainer.load_state(path, state)
    state = ckpt.load_checkpoint(path)
    state["config"] = {"model": "junk"}
    with pytest.raises(CheckpointError, match=f"^{path}: "):
        trainer.load_state(path, state)
    state = ckpt.load_checkpoint(path)
    state["optimizer"]["param_groups"][0]["eps"] = 0.5
    with pytest.raises(CheckpointError, match=f"^{path}: damaged optimiser settings \\(eps is 0.5\\)$"):
        trainer.load_state(path, state)


def test_the_time_spent_training_survives_a_resume_and_an_old_checkpoint_without_it_reads_as_zero(tmp_path):
    run = tmp_path / "run"
    first, _ = train(config(steps=2), run)
    first.close()
    assert first.elapsed > 0
    resumed = Trainer(config(steps=3), run, data=synthetic())
    assert resumed.elapsed == first.elapsed
    path = run / "checkpoints" / "step-000000002.pt"
    state = ckpt.load_checkpoint(path)
    del state["elapsed"]
    resumed.load_state(path, state)
    assert resumed.elapsed == 0.0


def test_a_checkpoint_syncs_the_metrics_and_close_releases_the_file(tmp_path, monkeypatch):
    trainer, _ = train(config(steps=1), tmp_path / "run")
    synced = []
    monkeypatch.setattr(trainer._metrics, "sync", lambda: synced.append(True))
    trainer.save_checkpoint()
    assert synced == [True]
    handle = trainer._metrics._file
    trainer.close()
    assert handle.closed


def test_a_checkpoint_that_cannot_be_written_stops_training_saying_why(tmp_path, monkeypatch):
    import shutil

    from drawstudio.train import trainer as trainer_module

    run = tmp_path / "run"
    trainer, _ = train(config(steps=1), run)

    def full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer_module.ckpt, "save_checkpoint", full)
    with pytest.raises(RunDirError) as raised:
        trainer.save_checkpoint()
    assert str(raised.value) == (f"{run}: could not save a checkpoint (No space left on device); "
                                 "training stopped so that no progress is lost unsaved")
    monkeypatch.undo()
    trainer.close()
    shutil.rmtree(run)
    with pytest.raises(RunDirError, match=r"could not save a checkpoint \(the run directory is gone\); training"):
        trainer.save_checkpoint()


def test_metrics_that_cannot_be_appended_are_a_run_dir_error_naming_the_file(tmp_path, monkeypatch):
    trainer, _ = train(config(steps=1), tmp_path / "run")

    def full(_record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer._metrics, "write", full)
    with pytest.raises(RunDirError) as raised:
        trainer.change_schedule(lr=5e-4, every=7)
    assert str(raised.value) == f"{tmp_path / 'run' / 'metrics.jsonl'}: cannot append metrics (No space left on device)"


def test_a_schedule_change_is_recorded_with_every_value_given():
    trainer = Trainer(config(), None, data=synthetic())
    records = []
    trainer.events.connect(records.append)
    trainer.change_schedule(lr=5e-4, every=7)
    assert records == [{"kind": "schedule", "step": 0, "lr": 5e-4, "decay": 1.0, "every": 7}]


# ---- distributed seeding ---------------------------------------------------------------


def test_each_rank_of_a_distributed_run_gets_its_own_streams_reseeded_from_the_step(tmp_path, monkeypatch):
    from drawstudio.train.distributed import DistInfo

    monkeypatch.setattr(DistInfo, "wrap", lambda self, module: module)
    trainer = Trainer(config(seed=5), None, data=synthetic(), dist=DistInfo(rank=1, world_size=2))
    expected = hash((5, 1, 0)) & 0x7FFF_FFFF
    assert torch.initial_seed() == expected and trainer.data_generator.initial_seed() == expected
    single, _ = train(config(steps=2, seed=5), tmp_path / "run")
    single.close()
    path = tmp_path / "run" / "checkpoints" / "step-000000002.pt"
    trainer.load_state(path, ckpt.load_checkpoint(path))
    expected = hash((5, 1, 2)) & 0x7FFF_FFFF
    assert torch.initial_seed() == expected and trainer.data_generator.initial_seed() == expected


# ---- steps -----------------------------------------------------------------------------


def test_a_batch_is_composed_and_binarised_by_the_run_s_data_generator():
    from drawstudio.data.batches import EpochSampler, to_model_input

    composed = ImageData("composed", ComposedSet(16), TensorImageSet(torch.zeros(4, 1, 8, 8, dtype=torch.uint8)))
    trainer = Trainer(config(seed=3, binarize="dynamic"), None, data=composed)
    torch.manual_seed(99)  # the global RNG must not matter
    x, _ = trainer.batch()
    generator = torch.Generator().manual_seed(3)
    indices = EpochSampler(16, 4, 3).next_indices()
    want = to_model_input(ComposedSet(16).images(indices, generator), "dynamic", generator)
    torch.testing.assert_close(x, want)


def test_an_unconditional_run_takes_no_labels_even_from_a_labelled_dataset():
    assert Trainer(config(), None, data=synthetic(classes=2)).batch()[1] is None


def test_a_conditional_run_trains_on_its_labels():
    conditional = config(steps=2)
    conditional.model.num_classes = 4
    trainer, records = train(conditional, data=synthetic(classes=4))
    assert trainer.step == 2 and len(kinds(records, "train")) == 2


def test_running_out_of_memory_in_a_step_names_the_batch_size(monkeypatch):
    trainer = Trainer(config(), None, data=synthetic())

    def oom(*_args, **_kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")

    monkeypatch.setattr(trainer, "objective", oom)
    with pytest.raises(ConfigError, match="^out of memory during a training step at batch_size=4; use a smaller"):
        trainer.train_step()


def test_the_clip_norm_reaches_the_clipping_and_zero_turns_it_off(monkeypatch):
    from drawstudio.train import trainer as trainer_module

    norms = []
    real = trainer_module.torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(trainer_module.torch.nn.utils, "clip_grad_norm_",
                        lambda params, max_norm: norms.append(max_norm) or real(params, max_norm))
    for clip in (0.25, 0.0):
        Trainer(config(grad_clip=clip), None, data=synthetic()).train_step()
    assert norms == [0.25, math.inf]


def test_a_non_finite_loss_is_recorded_and_explained():
    trainer = Trainer(config(), None, data=synthetic())
    records = []
    trainer.events.connect(records.append)
    with torch.no_grad():
        trainer.model.write_layer.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteError) as raised:
        trainer.train_step()
    assert str(raised.value) == ("step 0: the loss is not finite (loss nan, gradient norm nan); the weights were not "
                                 "updated. Lower the learning rate and continue.")
    assert len(records) == 1 and records[0]["kind"] == "nonfinite" and records[0]["step"] == 0
    assert math.isnan(records[0]["loss"]) and math.isnan(records[0]["grad_norm"])


def test_a_non_finite_gradient_under_a_finite_loss_is_named_as_the_gradient():
    trainer = Trainer(config(), None, data=synthetic())
    records = []
    trainer.events.connect(records.append)
    trainer.model.q.weight.register_hook(lambda grad: torch.full_like(grad, float("inf")))
    with pytest.raises(NonFiniteError) as raised:
        trainer.train_step()
    loss = records[0]["loss"]
    assert math.isfinite(loss) and records[0]["grad_norm"] == math.inf
    assert str(raised.value).startswith(f"step 0: the gradient is not finite (loss {loss}, gradient norm inf);")


def test_a_step_another_rank_found_non_finite_is_skipped_here_too_and_named_so():
    from drawstudio.train.distributed import DistInfo

    class AnotherRankFoundNonFinite(DistInfo):
        def any_rank(self, flag: bool) -> bool:
            return True

    trainer = Trainer(config(), None, data=synthetic())
    trainer.dist = AnotherRankFoundNonFinite()
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(NonFiniteError, match="^step 0: the loss of another rank is not finite "):
        trainer.train_step()
    assert trainer.step == 0
    assert all(torch.equal(a, p) for a, p in zip(before, trainer.model.parameters()))


def test_the_time_spent_is_the_sum_of_the_logged_steps_and_each_line_has_a_wall_clock_time():
    import time

    trainer, records = train(config(steps=3))
    lines = kinds(records, "train")
    assert trainer.elapsed == pytest.approx(sum(4 / r["images_per_s"] for r in lines), rel=1e-6)
    assert trainer.elapsed < 600
    assert all(abs(r["time"] - time.time()) < 3600 for r in lines)
    assert [r["elapsed"] for r in lines] == sorted(r["elapsed"] for r in lines)


def test_the_epoch_is_rounded_to_four_decimals():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (7, 1, 8, 8), dtype=torch.uint8, generator=generator)
    data = ImageData("seven", TensorImageSet(images), TensorImageSet(images))
    _, records = train(config(steps=1, batch_size=2), data=data)
    assert kinds(records, "train")[0]["epoch"] == 0.2857


# ---- evaluation through the trainer ----------------------------------------------------


def test_the_trainer_s_evaluation_uses_the_split_images_and_samples_asked_for():
    trainer = Trainer(config(), None, data=synthetic(valid=True))
    default = trainer.evaluate()
    assert (default["split"], default["images"], "iw_nll" in default) == ("test", 6, False)
    assert trainer.evaluate("valid", 3, iw_samples=2)["images"] == 3
    assert trainer.evaluate("test", iw_samples=2)["iw_samples"] == 2
    assert trainer.split("train") is trainer.data.train and trainer.eval_set("valid").images.shape[0] == 4
    snapshot = trainer.snapshot(2, 3)
    assert (snapshot.step, snapshot.originals.shape[0], snapshot.samples.shape[1]) == (0, 2, 3)


def test_periodic_evaluations_use_the_configured_number_of_images_and_name_the_watched_split(monkeypatch):
    script_bounds(monkeypatch, [5.0, 5.0, 6.0, 6.0, 7.0, 7.0])
    _, records = train(config(steps=2, eval_every=1, eval_images=3, plateau_patience=2),
                       data=synthetic(valid=True))
    assert {r["images"] for r in kinds(records, "eval")} == {3}
    assert [(r["split"], r["best"]) for r in kinds(records, "schedule")] == [("valid", 5.0)]


def test_the_trainer_s_snapshot_shows_sixteen_of_each_by_default_and_the_classes_asked_for():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8, generator=generator)
    labels = torch.arange(20) % 3
    data = ImageData("twenty", TensorImageSet(images, labels), TensorImageSet(images, labels),
                     classes=["0", "1", "2"])
    conditional = config()
    conditional.model.num_classes = 3
    trainer = Trainer(conditional, None, data=data)
    snapshot = trainer.snapshot()
    assert snapshot.originals.shape[0] == 16 and snapshot.samples.shape[1] == 16
    assert trainer.snapshot(2, 3, [1, 1]).sample_labels.tolist() == [1, 1]


def test_the_trainer_evaluates_in_batches_of_a_thousand_by_default():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (1001, 1, 8, 8), dtype=torch.uint8, generator=generator)
    data = ImageData("many", TensorImageSet(images[:8]), TensorImageSet(images))
    trainer = Trainer(config(binarize="none"), None, data=data)
    record = trainer.evaluate(log=False)
    assert record["nll"] == trainer.evaluation.evaluate(0, "test", None, 1, 1000)["nll"]
    assert record["nll"] != trainer.evaluation.evaluate(0, "test", None, 1, 1001)["nll"]


def test_an_infinite_kl_with_a_finite_reconstruction_is_named_a_loss_problem():
    trainer = Trainer(config(), None, data=synthetic())
    records = []
    trainer.events.connect(records.append)
    with torch.no_grad():
        trainer.model.q.bias[:3] = 1e20  # μ² overflows; the saturated decoder still draws
    with pytest.raises(NonFiniteError, match="^step 0: the loss is not finite"):
        trainer.train_step()
    assert records[0]["loss"] == math.inf


def test_a_state_that_fails_without_a_message_is_named_by_its_error_type(tmp_path, monkeypatch):
    run = tmp_path / "run"
    trainer, _ = train(config(steps=1), run)
    path = run / "checkpoints" / "step-000000001.pt"

    def fail(_state):
        raise ValueError()

    monkeypatch.setattr(trainer.sampler, "load_state_dict", fail)
    with pytest.raises(CheckpointError, match=rf"^{path}: damaged training state \(ValueError\)$"):
        trainer.load_state(path, ckpt.load_checkpoint(path))


def test_a_named_dataset_is_loaded_from_the_configured_folder_and_never_downloaded_unasked(
        tiny_config, mnist_dir, tmp_path, no_default_data):
    tiny_config.train.steps = 1
    trainer = Trainer(tiny_config, None)
    assert trainer.data.source == str(mnist_dir)
    tiny_config.train.data_dir = str(tmp_path / "empty")
    with pytest.raises(DataError, match="^MNIST not found: looked in"):
        Trainer(tiny_config, None)


def test_the_thread_count_is_fixed_when_the_trainer_is_built():
    threads = torch.get_num_threads()
    try:
        trainer = Trainer(config(threads=1), None, data=synthetic())
        assert torch.get_num_threads() == 1 and trainer.threads.fixed == 1
    finally:
        torch.set_num_threads(threads)
