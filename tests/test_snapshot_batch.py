"""The studio's fixed batch (the images every snapshot reconstructs) is spread over the test
split: binarized MNIST's test split is sorted by class, so its first 16 images are all 0s."""

import numpy as np
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.train.evaluation import spread
from drawstudio.train.trainer import Trainer


def test_spread_picks_evenly_spaced_images_and_all_of_a_small_split():
    assert spread(10_000, 16).tolist() == [625 * i for i in range(16)]
    assert spread(7, 3).tolist() == [0, 2, 4]
    assert spread(5, 16).tolist() == [0, 1, 2, 3, 4]
    assert spread(0, 16).tolist() == []


def test_a_binarized_mnist_snapshot_shows_images_from_across_the_sorted_test_split(shared_data):
    folder = shared_data / "binarized_mnist"
    config = RunConfig(model=ModelConfig(T=2, enc_size=8, dec_size=8, z_size=2),
                       train=TrainConfig(dataset="binarized-mnist", data_dir=str(folder), binarize="none",
                                         steps=0, eval_every=0, threads=1))
    snapshot = Trainer(config, None).snapshot(n_recon=16, n_samples=1)
    test = np.load(folder / "mnist_binarized.npz")["X_test"]
    expected = test[[625 * i for i in range(16)]].reshape(16, 1, 28, 28)
    np.testing.assert_array_equal(snapshot.originals, expected.astype(np.float32))
    first = torch.from_numpy(test[:16].astype(np.float32))
    assert not np.array_equal(snapshot.originals.reshape(16, -1), first.numpy())
