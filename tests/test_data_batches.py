import pytest
import torch

from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.data.batches import EpochSampler, effective_binarize, to_model_input
from drawstudio.errors import DataError


def draw(sampler, count):
    return [sampler.next_indices() for _ in range(count)]


def test_each_epoch_is_a_permutation_with_drop_last():
    sampler = EpochSampler(10, 3, seed=7)
    batches = draw(sampler, 6)  # 3 full batches per epoch, the 10th image dropped
    assert all(b.dtype == torch.int64 and b.shape == (3,) for b in batches)
    for epoch in (batches[:3], batches[3:]):
        seen = torch.cat(epoch)
        assert len(seen.unique()) == 9
    assert not torch.equal(torch.cat(batches[:3]), torch.cat(batches[3:]))
    assert sampler.state_dict() == {"epoch": 1, "position": 9}


def test_without_drop_last_the_epoch_ends_with_a_short_batch():
    sampler = EpochSampler(10, 4, seed=0, drop_last=False)
    sizes = [len(b) for b in draw(sampler, 4)]
    assert sizes == [4, 4, 2, 4]


def test_same_seed_same_batches_other_seed_other_batches():
    first, again, other = (draw(EpochSampler(50, 8, seed=s), 20) for s in (3, 3, 4))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_permutation_is_derived_from_seed_and_epoch():
    sampler = EpochSampler(20, 5, seed=2)
    generator = torch.Generator().manual_seed(2 * 1_000_003 + 1)
    assert torch.equal(sampler.permutation(1), torch.randperm(20, generator=generator))


@pytest.mark.parametrize("stop_after", [0, 2, 3, 7])
def test_resume_mid_epoch_continues_exactly(stop_after):
    reference = draw(EpochSampler(25, 6, seed=11), 12)
    interrupted = EpochSampler(25, 6, seed=11)
    draw(interrupted, stop_after)
    state = interrupted.state_dict()
    assert all(type(v) is int for v in state.values()) and set(state) == {"epoch", "position"}
    resumed = EpochSampler(25, 6, seed=11)
    resumed.load_state_dict(dict(state))
    rest = draw(resumed, 12 - stop_after)
    assert all(torch.equal(a, b) for a, b in zip(reference[stop_after:], rest, strict=True))


def test_batch_larger_than_dataset_is_a_data_error():
    with pytest.raises(DataError, match="batch size 128 is larger than the 100 training images of mnist"):
        EpochSampler(100, 128, seed=0, name="mnist")


@pytest.mark.parametrize("state", [{"epoch": 1}, {"epoch": -1, "position": 0}, {"epoch": 0, "position": 101},
                                   {"epoch": 0.5, "position": 0}, {"epoch": 0, "position": True}])
def test_bad_sampler_state_rejected(state):
    with pytest.raises(DataError, match="sampler state"):
        EpochSampler(100, 10, seed=0).load_state_dict(state)


def ramp():
    return torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).repeat(2, 3, 1, 1)


def test_none_scales_to_unit_interval():
    x = to_model_input(ramp(), "none")
    assert x.dtype == torch.float32 and x.shape == (2, 3, 16, 16)
    assert x.min() == 0 and x.max() == 1 and torch.allclose(x.flatten()[:256], torch.arange(256) / 255)


def test_threshold_is_above_125():
    x = to_model_input(ramp(), "threshold").flatten()[:256]
    assert torch.equal(x, (torch.arange(256) > 125).float())


def test_dynamic_is_reproducible_from_the_generator_and_follows_intensity():
    images = ramp().repeat(200, 1, 1, 1)
    a = to_model_input(images, "dynamic", torch.Generator().manual_seed(0))
    b = to_model_input(images, "dynamic", torch.Generator().manual_seed(0))
    c = to_model_input(images, "dynamic", torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    mean = a.view(-1, 256).mean(0)
    assert mean[0] == 0 and mean[255] == 1
    assert torch.allclose(mean, torch.arange(256) / 255, atol=0.05)


def test_dynamic_result_lands_on_the_requested_device():
    x = to_model_input(ramp(), "dynamic", torch.Generator().manual_seed(0), device="meta")
    assert x.device.type == "meta" and x.dtype == torch.float32


def test_binary_datasets_are_never_rebinarised():
    split = TensorImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    binary = ImageData("binarized-mnist", split, split, binary=True)
    grey = ImageData("mnist", split, split)
    assert [effective_binarize(binary, m) for m in ("dynamic", "threshold", "none")] == ["none"] * 3
    assert [effective_binarize(grey, m) for m in ("dynamic", "threshold", "none")] == ["dynamic", "threshold", "none"]
    with pytest.raises(ValueError, match="not one of"):
        effective_binarize(grey, "otsu")
