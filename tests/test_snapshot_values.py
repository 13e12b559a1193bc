"""The snapshot's attention in pixel units: σ from σ², and each grid's box on the image."""

import numpy as np
import torch

from drawstudio.model.attention import AttentionParams
from drawstudio.train.snapshot import Attention, Snapshot, to_numpy


def params() -> AttentionParams:
    # T=1, B=2: centres (10, 5) and (3, 20), strides 2 and 0.5, σ² 4 and 9
    return AttentionParams(gx=torch.tensor([[10.0, 3.0]]), gy=torch.tensor([[5.0, 20.0]]),
                           delta=torch.tensor([[2.0, 0.5]]), sigma2=torch.tensor([[4.0, 9.0]]),
                           gamma=torch.tensor([[1.5, 0.5]]))


def test_attention_in_pixel_units_keeps_centres_strides_and_intensity_and_takes_the_root_of_sigma2():
    attention = Attention.from_params(params(), n=3)
    np.testing.assert_array_equal(attention.gx, [[10.0, 3.0]])
    np.testing.assert_array_equal(attention.gy, [[5.0, 20.0]])
    np.testing.assert_array_equal(attention.delta, [[2.0, 0.5]])
    np.testing.assert_array_equal(attention.sigma, [[2.0, 3.0]])
    np.testing.assert_array_equal(attention.gamma, [[1.5, 0.5]])
    assert attention.n == 3 and attention.gx.dtype == np.float32


def test_no_attention_gives_no_boxes():
    assert Attention.from_params(None, 3) is None


def test_a_box_spans_n_strides_around_the_centre_in_pixel_edge_coordinates():
    attention = Attention.from_params(params(), n=3)
    # 1-based centre 10 is 0-based pixel 9, whose centre is at edge coordinate 9.5; span 3·2 = 6
    assert attention.box(0, 0) == (10 - 0.5 - 3.0, 5 - 0.5 - 3.0, 6.0, 6.0)
    assert attention.box(0, 1) == (3 - 0.5 - 0.75, 20 - 0.5 - 0.75, 1.5, 1.5)
    assert all(type(v) is float for v in attention.box(0, 1))


def test_boxes_of_all_steps_at_once_equal_the_single_boxes():
    attention = Attention.from_params(params(), n=3)
    left, top, width, height = attention.boxes()
    for b in range(2):
        assert (left[0, b], top[0, b], width[0, b], height[0, b]) == attention.box(0, b)


def test_a_one_point_grid_spans_one_stride():
    attention = Attention.from_params(params(), n=1)
    assert attention.box(0, 0) == (10 - 0.5 - 1.0, 5 - 0.5 - 1.0, 2.0, 2.0)


def test_snapshot_steps_and_arrays_for_the_studio():
    tensor = torch.arange(6, dtype=torch.float64).view(2, 3).t()  # not contiguous
    array = to_numpy(tensor)
    assert array.dtype == np.float32 and array.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(array, [[0, 3], [1, 4], [2, 5]])
    empty = np.zeros((4, 2, 1, 3, 3))
    snapshot = Snapshot(0, empty[0], None, empty, None, None, empty, empty, empty, None, None, np.zeros(4))
    assert snapshot.T == 4
