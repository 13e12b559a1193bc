"""How many floating-point operations DRAW's matrix products take: every linear layer, the LSTM
gate products and the attention filterbank products; elementwise work is not counted. A training
step is taken as 3× the forward pass (the backward does two products per forward product).
Used by `drawstudio bench` for FLOP utilisation and by the ranks rule for a step's work."""

from __future__ import annotations

from drawstudio.config import ModelConfig


def forward_flops_per_image(c: ModelConfig) -> int:
    """Matrix-product FLOPs (2 per multiply-add) of one image's forward pass over all T steps."""
    linear = _linear_flops
    step = linear(c.read_size + c.dec_size + c.num_classes, 4 * c.enc_size) + linear(c.enc_size, 4 * c.enc_size)
    step += linear(c.enc_size, 2 * c.z_size)  # Q(z | h_enc)
    step += linear(c.z_size + c.num_classes, 4 * c.dec_size) + linear(c.dec_size, 4 * c.dec_size)
    step += linear(c.dec_size, c.write_size)
    if c.attention:
        h, w, ch = c.height, c.width, c.channels
        step += 2 * linear(c.dec_size, 5)  # read and write attention parameters
        n = c.read_n
        step += 2 * (2 * ch) * (n * h * w + n * w * n)  # F_Y x F_Xᵀ for x and x̂
        n = c.write_n
        step += 2 * ch * (h * n * n + h * n * w)  # F_Yᵀ w F_X
    return c.T * step


def _linear_flops(n_in: int, n_out: int) -> int:
    return 2 * n_in * n_out


def train_flops_per_image(c: ModelConfig) -> int:
    return 3 * forward_flops_per_image(c)
