"""The selective-attention equations (paper eq. 19-29) against numbers worked out by hand."""

import math

import pytest
import torch

from drawstudio.model import attention as att


def raw(gx=0.0, gy=0.0, log_sigma2=0.0, log_delta=0.0, log_gamma=0.0, batch=1):
    return torch.tensor([[gx, gy, log_sigma2, log_delta, log_gamma]] * batch, dtype=torch.float64)


def test_grid_centre_and_stride_follow_eq_22_to_24():
    # A=5 wide, B=7 high, N=2: gX = (5+1)/2·(0.5+1) = 4.5, gY = (7+1)/2·(−0.5+1) = 2,
    # δ = (max(5,7)−1)/(2−1)·e^0 = 6, σ² = e^0 = 1, γ = e^{ln 3} = 3.
    params = att.attention_params(raw(gx=0.5, gy=-0.5, log_gamma=math.log(3)), height=7, width=5, n=2)
    assert params.gx.item() == pytest.approx(4.5)
    assert params.gy.item() == pytest.approx(2.0)
    assert params.delta.item() == pytest.approx(6.0)
    assert params.sigma2.item() == pytest.approx(1.0)
    assert params.gamma.item() == pytest.approx(3.0)


def test_centred_grid_sits_symmetrically_about_the_image_middle():
    # A=7, N=3, g̃=0, δ̃=1: g = 4, δ = (7−1)/(3−1) = 3, so centres at 4 + (i − 1.5 − 0.5)·3 = 1, 4, 7
    # (1-based i = 1..3): the outer filters sit exactly on the edge pixels, none shifted by a stride.
    params = att.attention_params(raw(), height=7, width=7, n=3)
    centres = att.filter_centres(params.gx, params.delta, 3)
    assert centres.tolist() == [[1.0, 4.0, 7.0]]


def test_filter_peaks_at_the_pixel_the_parameters_predict():
    params = att.attention_params(raw(log_sigma2=-1.0), height=7, width=7, n=3)
    fx, fy = att.filterbanks(params, 3, 7, 7)
    assert fx.argmax(-1).tolist() == [[0, 3, 6]]  # pixels 1, 4, 7 in the paper's 1-based coordinates
    assert fy.argmax(-1).tolist() == [[0, 3, 6]]


def test_filterbank_values_match_eq_25_by_hand():
    # A=5, N=2, g̃=0, δ̃=1 → centres 1 and 5; σ² = 1. Row 1 ∝ exp(−(a−1)²/2) for a = 1..5.
    params = att.attention_params(raw(), height=5, width=5, n=2)
    fx, _ = att.filterbanks(params, 2, 5, 5)
    unnormalised = [math.exp(-((a - 1) ** 2) / 2) for a in range(1, 6)]
    expected = [w / sum(unnormalised) for w in unnormalised]
    assert fx[0, 0].tolist() == pytest.approx(expected, rel=1e-12)
    assert fx[0, 1].tolist() == pytest.approx(expected[::-1], rel=1e-12)


def test_filter_falls_off_as_exp_of_minus_d_squared_over_two_sigma_squared():
    # σ² = 2: a neighbour one pixel from the centre weighs e^{−1/4} of the centre, two pixels e^{−1}.
    params = att.attention_params(raw(log_sigma2=math.log(2)), height=9, width=9, n=1)
    fx, _ = att.filterbanks(params, 1, 9, 9)  # one filter, centred at pixel 5 (index 4)
    row = fx[0, 0]
    assert (row[5] / row[4]).item() == pytest.approx(math.exp(-0.25))
    assert (row[6] / row[4]).item() == pytest.approx(math.exp(-1.0))


def test_filterbank_rows_sum_to_one():
    torch.manual_seed(0)
    # compact grids (δ̃ ≈ e^−1) near the middle, so every filter overlaps the image; a grid far
    # outside is covered by the test below
    outputs = 0.3 * torch.randn(8, 5, dtype=torch.float64) + torch.tensor([0, 0, 0, -1.0, 0], dtype=torch.float64)
    params = att.attention_params(outputs, height=28, width=20, n=5)
    fx, fy = att.filterbanks(params, 5, 28, 20)
    assert fx.shape == (8, 5, 20) and fy.shape == (8, 5, 28)
    assert torch.allclose(fx.sum(-1), torch.ones(8, 5, dtype=torch.float64))
    assert torch.allclose(fy.sum(-1), torch.ones(8, 5, dtype=torch.float64))


def test_grid_far_outside_the_image_gives_zero_rows_not_nan():
    params = att.attention_params(raw(gx=80.0, log_sigma2=-6.0), height=28, width=28, n=2)
    fx, _ = att.filterbanks(params, 2, 28, 28)
    assert torch.isfinite(fx).all()
    assert fx.abs().sum().item() == 0.0


def test_read_with_sharp_filters_picks_the_corner_pixels_scaled_by_gamma():
    # 5×5 image, N=2 at g̃=0, δ̃=1: filters on pixels 1 and 5 of each axis; with σ² → 0 the glimpse is
    # γ·[[x(1,1), x(1,5)], [x(5,1), x(5,5)]] (row, column).
    image = torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5)
    params = att.attention_params(raw(log_sigma2=-20.0, log_gamma=math.log(2)), height=5, width=5, n=2)
    fx, fy = att.filterbanks(params, 2, 5, 5)
    glimpse = att.read_glimpse(image, fx, fy, params.gamma)
    assert torch.allclose(glimpse[0, 0], torch.tensor([[0.0, 8.0], [40.0, 48.0]], dtype=torch.float64))


def test_read_of_a_constant_image_is_gamma_times_the_constant():
    image = torch.full((1, 2, 6, 9), 0.25, dtype=torch.float64)
    params = att.attention_params(raw(log_gamma=math.log(4)), height=6, width=9, n=3)
    fx, fy = att.filterbanks(params, 3, 6, 9)
    glimpse = att.read_glimpse(image, fx, fy, params.gamma)
    assert torch.allclose(glimpse, torch.ones(1, 2, 3, 3, dtype=torch.float64))


def test_write_places_the_patch_where_the_read_would_look_divided_by_gamma():
    patch = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    params = att.attention_params(raw(log_sigma2=-20.0, log_gamma=math.log(2)), height=5, width=5, n=2)
    fx, fy = att.filterbanks(params, 2, 5, 5)
    image = att.write_patch(patch, fx, fy, params.gamma)[0, 0]
    expected = torch.zeros(5, 5, dtype=torch.float64)
    expected[0, 0], expected[0, 4], expected[4, 0], expected[4, 4] = 0.5, 1.0, 1.5, 2.0
    assert torch.allclose(image, expected)


def test_write_is_the_transpose_of_read_for_the_same_filters():
    # <read(x), w> = <x, write(w)> · γ² for F_Y x F_Xᵀ and F_Yᵀ w F_X.
    torch.manual_seed(1)
    x = torch.randn(3, 1, 10, 12, dtype=torch.float64)
    w = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    params = att.attention_params(torch.randn(3, 5, dtype=torch.float64), height=10, width=12, n=4)
    fx, fy = att.filterbanks(params, 4, 10, 12)
    lhs = (att.read_glimpse(x, fx, fy, params.gamma) * w).sum((1, 2, 3))
    rhs = (x * att.write_patch(w, fx, fy, params.gamma)).sum((1, 2, 3)) * params.gamma**2
    assert torch.allclose(lhs, rhs)


def test_non_square_read_looks_at_rows_with_g_y_and_columns_with_g_x():
    # A=5 wide, B=7 high, N=2, g̃=0, δ̃=1/3: gX = 3, gY = 4, δ = (7−1)·(1/3) = 2, so the filter
    # centres are columns 2, 4 and rows 3, 5 (1-based). With σ² → 0 the glimpse is
    # [[x(3,2), x(3,4)], [x(5,2), x(5,4)]] for x(row, column) = 10·row + column.
    rows = torch.arange(1, 8, dtype=torch.float64)[:, None]
    columns = torch.arange(1, 6, dtype=torch.float64)[None, :]
    image = (10 * rows + columns).view(1, 1, 7, 5)
    params = att.attention_params(raw(log_sigma2=-20.0, log_delta=math.log(1 / 3)), height=7, width=5, n=2)
    fx, fy = att.filterbanks(params, 2, 7, 5)
    assert fx.shape == (1, 2, 5) and fy.shape == (1, 2, 7)
    glimpse = att.read_glimpse(image, fx, fy, params.gamma)
    assert torch.allclose(glimpse[0, 0], torch.tensor([[32.0, 34.0], [52.0, 54.0]], dtype=torch.float64))


def test_non_square_filterbank_values_match_eq_25_by_hand():
    # A=5 wide, B=7 high, N=2, g̃X=0.5, g̃Y=−0.5, δ̃=1, σ²=1: gX = 4.5, gY = 2, δ = 6, so the
    # column filters sit at 1.5 and 7.5 and the row filters at −1 and 5.
    params = att.attention_params(raw(gx=0.5, gy=-0.5), height=7, width=5, n=2)
    fx, fy = att.filterbanks(params, 2, 7, 5)

    def row(centre: float, size: int) -> list[float]:
        weights = [math.exp(-((a - centre) ** 2) / 2) for a in range(1, size + 1)]
        return [w / sum(weights) for w in weights]

    assert fx[0].tolist() == [pytest.approx(row(1.5, 5), rel=1e-12), pytest.approx(row(7.5, 5), rel=1e-12)]
    assert fy[0].tolist() == [pytest.approx(row(-1.0, 7), rel=1e-12), pytest.approx(row(5.0, 7), rel=1e-12)]
