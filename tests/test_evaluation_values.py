"""Evaluation as numbers: the bound, its parts and the importance-weighted bound of exactly the
images and noise an evaluation promises, in batches; the splits; the snapshot's fixed inputs."""

import numpy as np
import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.data.batches import to_model_input
from drawstudio.errors import ConfigError
from drawstudio.model.draw import Draw
from drawstudio.model.likelihood import importance_weighted_nll
from drawstudio.train.distributed import DistInfo
from drawstudio.train.evaluation import EVAL_SEED_OFFSET, Evaluation, eval_subset
from drawstudio.train.objective import Objective

SEED = 7


def data(classes: int = 0, valid: bool = False) -> ImageData:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8, generator=generator)
    labels = torch.arange(12) % max(classes, 1)
    split = TensorImageSet(images[:8], labels[:8] if classes else None)
    return ImageData("synthetic", TensorImageSet(images, labels if classes else None), split,
                     valid=TensorImageSet(images[8:]) if valid else None,
                     classes=[str(i) for i in range(classes)] if classes else None)


def evaluation(classes: int = 0, binarize: str = "none", valid: bool = False) -> tuple[Evaluation, Draw]:
    torch.manual_seed(0)
    model_config = ModelConfig(T=2, height=8, width=8, read_n=2, write_n=2, enc_size=8, dec_size=8, z_size=3,
                               num_classes=classes)
    config = RunConfig(model_config, TrainConfig(dataset="mnist", seed=SEED))
    model = Draw(model_config)
    return Evaluation(Objective(model, False), config, data(classes, valid), binarize, torch.device("cpu")), model


def expected(model: Draw, x: torch.Tensor, batches: list[slice], k: int = 1) -> dict[str, float]:
    """The record's numbers computed by hand: noise from the evaluation's generator, batch by batch."""
    generator = torch.Generator().manual_seed(SEED + EVAL_SEED_OFFSET)
    totals = np.zeros(4)
    for batch in batches:
        part = x[batch]
        noise = torch.randn(2, k * len(part), 3, generator=generator)
        with torch.no_grad():
            out = model(part.repeat(k, 1, 1, 1), None, noise, importance=True)
        n = len(part)
        loss = out.loss.view(k, n)
        iw = importance_weighted_nll(out.recon.view(k, n), out.log_ratio.view(k, n))
        totals += [loss.mean(0).sum().item(), out.recon.view(k, n).mean(0).sum().item(),
                   out.kl.sum(1).view(k, n).mean(0).sum().item(), iw.sum().item()]
    count = sum(len(x[batch]) for batch in batches)
    return dict(zip(("nll", "recon", "kl", "iw_nll"), totals / count))


def test_the_bound_and_its_parts_are_the_mean_over_the_split_with_the_evaluation_s_own_noise():
    ev, model = evaluation()
    x = data().test.data.float() / 255
    record = ev.evaluate(step=5)
    want = expected(model, x, [slice(0, 8)])
    assert {k: record[k] for k in ("kind", "split", "step", "images")} == {
        "kind": "eval", "split": "test", "step": 5, "images": 8}
    assert record["nll"] == pytest.approx(want["nll"], rel=1e-5)
    assert record["recon"] == pytest.approx(want["recon"], rel=1e-5)
    assert record["kl"] == pytest.approx(want["kl"], rel=1e-5)
    assert record["nll"] == pytest.approx(record["recon"] + record["kl"], rel=1e-5)
    assert "subset" not in record and "iw_nll" not in record and record["seconds"] >= 0


def test_evaluation_in_batches_averages_over_every_image_once():
    ev, model = evaluation()
    x = data().test.data.float() / 255
    record = ev.evaluate(step=0, batch_size=3)
    want = expected(model, x, [slice(0, 3), slice(3, 6), slice(6, 8)])
    assert record["nll"] == pytest.approx(want["nll"], rel=1e-5)
    assert record["kl"] == pytest.approx(want["kl"], rel=1e-5)


class OneRankOfTwo(DistInfo):
    """Rank `rank` of a two-process run whose collective sum keeps this rank's own sums aside."""

    def __init__(self, rank: int):
        super().__init__(rank=rank, world_size=2)
        self.own: torch.Tensor | None = None

    def total(self, values: torch.Tensor) -> torch.Tensor:
        self.own = values.clone()
        return values


@pytest.mark.parametrize("iw_samples", [1, 3])
def test_two_ranks_evaluate_alternate_batches_whose_sums_add_up_to_one_process_s_bound(iw_samples):
    x = data().test.data.float() / 255
    batches = [slice(0, 3), slice(3, 6), slice(6, 8)]
    own_sums, calls = [], []
    for rank in (0, 1):
        ev, model = evaluation()
        ev.dist = OneRankOfTwo(rank)
        objective = ev.objective
        ev.objective = lambda *args, **kwargs: calls.append(rank) or objective(*args, **kwargs)
        ev.evaluate(step=0, iw_samples=iw_samples, batch_size=3 * iw_samples)
        own_sums.append(ev.dist.own)
    assert calls == [0, 0, 1]  # batches 0 and 2 on rank 0, batch 1 on rank 1, each once
    nll, recon, kl, iw = ((own_sums[0] + own_sums[1]) / 8).tolist()
    want = expected(model, x, batches, k=iw_samples)
    assert nll == pytest.approx(want["nll"], rel=1e-5)
    assert recon == pytest.approx(want["recon"], rel=1e-5)
    assert kl == pytest.approx(want["kl"], rel=1e-5)
    assert iw == pytest.approx(want["iw_nll"] if iw_samples > 1 else want["nll"], rel=1e-5)  # K = 1: the bound


def test_the_importance_weighted_bound_uses_k_samples_per_image_in_batches_of_images_times_k():
    ev, model = evaluation()
    x = data().test.data.float() / 255
    record = ev.evaluate(step=0, iw_samples=3, batch_size=12)  # 4 images of 3 samples per batch
    want = expected(model, x, [slice(0, 4), slice(4, 8)], k=3)
    assert record["iw_samples"] == 3
    assert record["iw_nll"] == pytest.approx(want["iw_nll"], rel=1e-5)
    assert record["nll"] == pytest.approx(want["nll"], rel=1e-5)
    assert record["recon"] == pytest.approx(want["recon"], rel=1e-5)
    assert record["iw_nll"] < record["nll"]


def test_fewer_images_are_a_fixed_subset_and_the_record_says_which():
    ev, model = evaluation()
    x = data().test.data.float() / 255
    record = ev.evaluate(step=0, max_images=5)
    chosen = eval_subset(8, 5, SEED)
    assert record["images"] == 5
    assert record["subset"] == f"a fixed random 5 of the 8 test images (seed {SEED})"
    assert record["nll"] == pytest.approx(expected(model, x[chosen], [slice(0, 5)])["nll"], rel=1e-5)
    assert ev.evaluate(step=0, max_images=50)["images"] == 8


def test_a_subset_is_sorted_distinct_and_fixed_by_the_seed():
    subset = eval_subset(100, 10, 3)
    assert subset.tolist() == sorted(set(subset.tolist())) and len(subset) == 10
    generator = torch.Generator().manual_seed(3 + EVAL_SEED_OFFSET)
    assert subset.tolist() == sorted(torch.randperm(100, generator=generator)[:10].tolist())
    assert eval_subset(4, 4, 3).tolist() == [0, 1, 2, 3]


def test_splits_are_found_by_name_and_a_missing_one_is_refused_naming_the_dataset():
    ev, _ = evaluation(valid=True)
    assert ev.split("train") is ev.data.train and ev.split("valid") is ev.data.valid
    assert ev.evaluate(step=0, split="valid")["images"] == 4
    without, _ = evaluation()
    with pytest.raises(ConfigError, match="^split 'valid': dataset 'synthetic' has no such split$"):
        without.split("valid")


def test_the_evaluation_images_are_binarised_once_with_the_evaluation_seed():
    ev, _ = evaluation(binarize="dynamic")
    first = ev.eval_set("test")
    generator = torch.Generator().manual_seed(SEED + EVAL_SEED_OFFSET)
    torch.testing.assert_close(first.images, to_model_input(data().test.data, "dynamic", generator))
    assert ev.eval_set("test") is first and first.labels is None


def test_labels_come_with_the_images_only_for_a_conditional_model():
    ev, _ = evaluation(classes=3)
    assert ev.eval_set("test").labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1]


def test_a_snapshot_shows_test_images_spread_over_the_split_and_cycles_the_classes_for_samples():
    ev, model = evaluation(classes=3)
    snap = ev.snapshot(step=4, n_recon=20, n_samples=4)
    assert snap.step == 4 and snap.T == 2
    assert snap.originals.shape == (8, 1, 8, 8) and snap.labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert snap.sample_labels.tolist() == [0, 1, 2, 0] and snap.samples.shape == (2, 4, 1, 8, 8)
    chosen = ev.snapshot(step=4, n_recon=2, sample_labels=[2, 2])
    assert chosen.sample_labels.tolist() == [2, 2] and chosen.samples.shape[1] == 2
    generator = torch.Generator().manual_seed(SEED + 2 * EVAL_SEED_OFFSET)
    x = data().test.data[[0, 4]].float() / 255  # two of eight, evenly spaced
    noise = torch.randn(2, 2, 3, generator=generator)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 1]), noise, record=True)
        samples, _ = model.generate(2, torch.tensor([2, 2]), torch.randn(2, 2, 3, generator=generator))
    np.testing.assert_allclose(chosen.reconstructions, torch.sigmoid(out.trace.canvases).numpy(), rtol=1e-5)
    np.testing.assert_allclose(chosen.kl_per_step, out.kl.mean(0).numpy(), rtol=1e-5)
    np.testing.assert_allclose(chosen.samples, samples.numpy(), rtol=1e-5)
    np.testing.assert_allclose(chosen.read.gx, out.trace.read.gx.numpy(), rtol=1e-5)
    assert chosen.read.n == 2 and chosen.write.n == 2 and chosen.sample_write.gx.shape == (2, 2)


def test_an_unconditional_snapshot_has_no_labels_and_the_asked_number_of_samples():
    ev, _ = evaluation()
    snap = ev.snapshot(step=0, n_recon=3, n_samples=5)
    assert snap.labels is None and snap.sample_labels is None
    assert snap.originals.shape[0] == 3 and snap.samples.shape[1] == 5


class ComposedSet:
    """A split whose images are composed from the generator it is given (like two-digit MNIST)."""

    def __init__(self, n: int = 5) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def images(self, indices, generator=None):
        return torch.randint(0, 256, (len(indices), 1, 8, 8), dtype=torch.uint8, generator=generator)

    def labels(self, indices):
        return None


def test_composed_evaluation_images_are_composed_by_the_evaluation_s_seeded_generator():
    ev, _ = evaluation()
    ev.data.test = ComposedSet()
    torch.manual_seed(123)  # the global RNG must not matter
    generator = torch.Generator().manual_seed(SEED + EVAL_SEED_OFFSET)
    want = ComposedSet().images(torch.arange(5), generator).float() / 255
    torch.testing.assert_close(ev.eval_set("test").images, want)


def test_an_unconditional_model_gets_no_labels_even_from_a_labelled_split():
    ev, _ = evaluation()
    ev.data = data(classes=3)
    assert ev.eval_set("test").labels is None


@pytest.mark.parametrize("k", [1, 2])
def test_a_conditional_model_is_evaluated_with_each_image_s_label_for_every_sample(k):
    ev, model = evaluation(classes=3)
    x = data(classes=3).test.data.float() / 255
    labels = torch.arange(8) % 3
    record = ev.evaluate(step=0, iw_samples=k)
    generator = torch.Generator().manual_seed(SEED + EVAL_SEED_OFFSET)
    noise = torch.randn(2, 8 * k, 3, generator=generator)
    with torch.no_grad():
        out = model(x.repeat(k, 1, 1, 1), labels.repeat(k), noise, importance=True)
    assert record["nll"] == pytest.approx(out.loss.mean().item(), rel=1e-5)
    if k > 1:
        iw = importance_weighted_nll(out.recon.view(k, 8), out.log_ratio.view(k, 8))
        assert record["iw_nll"] == pytest.approx(iw.mean().item(), rel=1e-5)
    else:
        assert "iw_nll" not in record


def test_the_evaluation_images_and_labels_live_on_the_run_s_device():
    plain, _ = evaluation(classes=3)
    ev = Evaluation(plain.objective, plain.config, plain.data, "none", torch.device("meta"))
    test = ev.eval_set("test")
    assert test.images.device.type == "meta" and test.labels.device.type == "meta"
