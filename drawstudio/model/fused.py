"""The same DRAW pass as `Draw.forward`, with the per-step work folded into fewer operations.

DRAW spends its time in 64 steps of small products, where per-operation overhead rivals
the arithmetic. Three things make this path faster while computing the same function:

- Fewer, larger products. Everything that reads h^dec_t is one product: the write and its
  attention at step t and, at step t+1, the read attention, the encoder's h^dec input and
  the decoder's recurrence (5 products → 1). The encoder's two inputs [r_t, h^enc_{t−1}]
  are one product, the LSTM gates are reordered to (i, f, o, g) so one sigmoid covers
  three gates, and the label's contribution, constant over steps, is folded into the biases.
- One weight gradient per weight, not one per step. A weight used at all T steps gets
  dW = Σ_t x_tᵀ dy_t; autograd would compute T thin products (inner size B) and add them
  up. Here each step's backward only records (x_t, dy_t) and the weight's own backward,
  which autograd runs after every step's, does a single product with inner size T·B.
- Packing happens inside autograd on every call, so gradients reach the module's own
  parameters and the optimiser never sees packed copies.

`tests/test_fused.py` pins this path to the plain one (same loss and gradients for the
same noise).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from drawstudio.model.draw import Draw, DrawOutput
from drawstudio.model.likelihood import gaussian_kl, log_q_over_p


class Packed(NamedTuple):
    h_dec_weight: Tensor  # (D, P): columns [write attn 5 | write | read attn 5 | encoder 4E | decoder 4D]
    h_dec_bias: Tensor  # (B, P)
    encoder_weight: Tensor  # (R + E, 4E) for [r_t, h^enc_{t−1}]
    q_weight: Tensor  # (E, 2Z)
    q_bias: Tensor  # (2Z,)
    z_weight: Tensor  # (Z, 4D)
    write_columns: int  # columns of h_dec_weight the last step needs (write and its attention)


class _WeightUses:
    """The (input, output gradient) pairs of every step that used one shared weight."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Tensor, Tensor]] = []


class _SharedWeight(torch.autograd.Function):
    """Identity in the forward pass; in the backward, dW = Σ_t x_tᵀ dy_t as one product."""

    @staticmethod
    def forward(ctx: Any, weight: Tensor, uses: _WeightUses) -> Tensor:
        ctx.uses = uses
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        inputs, grads = zip(*ctx.uses.pairs)
        ctx.uses.pairs.clear()
        dy = torch.cat(grads)  # bf16 under autocast: the product runs in it, the sum in the weight's dtype
        return grad + (torch.cat(inputs).to(dy.dtype).T @ dy).to(grad.dtype), None


class _StepProduct(torch.autograd.Function):
    """bias + x @ weight whose backward leaves the weight gradient to `_SharedWeight`."""

    @staticmethod
    def forward(ctx: Any, bias: Tensor, x: Tensor, weight: Tensor, uses: _WeightUses) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.uses = uses
        ctx.bias_dims, ctx.bias_dtype = bias.dim(), bias.dtype
        return torch.addmm(bias, x, weight)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor | None, None, None]:
        x, weight = ctx.saved_tensors
        ctx.uses.pairs.append((x, grad))
        # under autocast the forward ran in bf16: the gradients come back in it
        grad_x = (grad @ weight.T.to(grad.dtype)).to(x.dtype) if ctx.needs_input_grad[1] else None
        grad_bias = (grad if ctx.bias_dims == 2 else grad.sum(0)).to(ctx.bias_dtype)
        return grad_bias, grad_x, None, None


class _Shared:
    """A weight for use at every step: `shared(bias, x)` is bias + x @ weight, in float32 or, given
    `products` (bfloat16), with the weight cast once a pass and the product in that type."""

    def __init__(self, weight: Tensor, products: torch.dtype | None = None):
        self.uses = _WeightUses()
        weight = weight if products is None else weight.to(products)  # the cast's backward reaches the fp32 weight
        self.weight = _SharedWeight.apply(weight, self.uses) if weight.requires_grad else weight

    def __call__(self, bias: Tensor, x: Tensor, columns: int | None = None) -> Tensor:
        """bias + x @ weight (its first `columns` columns only, when given; then without the
        shared-weight gradient bookkeeping, for the one product that uses part of it)."""
        low = self.weight.dtype
        out_dtype = x.dtype
        bias, x = bias.to(low), x.to(low)
        if columns is not None:
            out = torch.addmm(bias[:, :columns], x, self.weight[:, :columns])
        elif not self.weight.requires_grad:
            out = torch.addmm(bias, x, self.weight)
        else:
            out = _StepProduct.apply(bias, x, self.weight, self.uses)
        return out.to(out_dtype)  # the gates and everything elementwise stay in float32


def _gate_order(size: int, device: torch.device) -> Tensor:
    """Row permutation from PyTorch's (i, f, g, o) gate layout to (i, f, o, g)."""
    i, f, g, o = torch.arange(4 * size, device=device).view(4, size)
    return torch.cat([i, f, o, g])


def pack(model: Draw, y: Tensor) -> Packed:
    c = model.config
    enc, dec = model.encoder, model.decoder
    read, dec_size = c.read_size, c.dec_size
    enc_order = _gate_order(c.enc_size, y.device)
    dec_order = _gate_order(c.dec_size, y.device)
    enc_ih = enc.weight_ih[enc_order]  # (4E, R + D + K)
    dec_ih = dec.weight_ih[dec_order]  # (4D, Z + K)
    enc_bias = (enc.bias_ih + enc.bias_hh)[enc_order]
    dec_bias = (dec.bias_ih + dec.bias_hh)[dec_order]
    if c.num_classes:  # y @ W is the same at every step: fold it into the bias, (B, 4E) and (B, 4D)
        enc_bias = enc_bias + y @ enc_ih[:, read + dec_size:].T
        dec_bias = dec_bias + y @ dec_ih[:, c.z_size:].T
    write_w, write_b = [model.write_layer.weight], [model.write_layer.bias]
    read_w, read_b = [], []
    if c.attention:
        write_w.insert(0, model.write_attention.weight)
        write_b.insert(0, model.write_attention.bias)
        read_w, read_b = [model.read_attention.weight], [model.read_attention.bias]
    batch = y.shape[0]
    biases = [b.expand(batch, -1) for b in (*write_b, *read_b, enc_bias, dec_bias)]
    return Packed(
        h_dec_weight=torch.cat([*write_w, *read_w, enc_ih[:, read:read + dec_size], dec.weight_hh[dec_order]]).T,
        h_dec_bias=torch.cat(biases, 1),
        encoder_weight=torch.cat([enc_ih[:, :read], enc.weight_hh[enc_order]], 1).T,
        q_weight=model.q.weight.T,
        q_bias=model.q.bias,
        z_weight=dec_ih[:, :c.z_size].T,
        write_columns=sum(w.shape[0] for w in write_w),
    )


def lstm_cell(gates: Tensor, cell: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM update from pre-activations laid out (i, f, o, g). (B, 4H), (B, H) → h, c."""
    size = cell.shape[1]
    sigmoid_part, tanh_part = gates.split([3 * size, size], 1)  # one split: its backward is one cat
    i, f, o = torch.sigmoid(sigmoid_part).split(size, 1)
    cell = torch.addcmul(f * cell, i, torch.tanh(tanh_part))
    return o * torch.tanh(cell), cell


def fused_forward(
    model: Draw,
    x: Tensor,
    labels: Tensor | None = None,
    noise: Tensor | None = None,
    importance: bool = False,
) -> DrawOutput:
    """`Draw.forward` without the trace, computed with packed weights. Under bfloat16 autocast
    the LSTM and linear products run in bfloat16 with each weight cast once a pass (autocast
    would cast it at each of the T steps), and the rest (attention, gates, canvas, the bound)
    in float32."""
    device_type = x.device.type
    products = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    with torch.autocast(device_type, enabled=False):
        return _fused_forward(model, x, labels, noise, importance, products)


def _fused_forward(model: Draw, x: Tensor, labels: Tensor | None, noise: Tensor | None, importance: bool,
                   products: torch.dtype | None) -> DrawOutput:
    c = model.config
    batch = x.shape[0]
    if noise is None:
        noise = model.draw_noise(batch, x)
    y = model.condition(labels, batch, x)
    p = pack(model, y)
    from_h_dec_product, encoder_product = _Shared(p.h_dec_weight, products), _Shared(p.encoder_weight, products)
    q_product, z_product = _Shared(p.q_weight, products), _Shared(p.z_weight, products)
    sizes = _column_sizes(model)
    h_enc, cell_enc = model.zero_state(batch, c.enc_size, x)
    cell_dec = x.new_zeros(batch, c.dec_size)
    # h^dec_0 = 0, so its product is the bias alone; each product is split once, its write columns
    # used now and the rest at the next step (two splits of one tensor would cost two backward cats)
    _, _, read_raw, enc_in, dec_in = p.h_dec_bias.split(sizes, 1)
    canvas = model.canvas0.expand(batch, -1, -1, -1)
    kls, ratios = [], []
    for t in range(c.T):
        x_hat = x - torch.sigmoid(canvas)  # eq. 3
        r, _ = model.glimpse(x, x_hat, read_raw if c.attention else None)  # eq. 4
        h_enc, cell_enc = lstm_cell(encoder_product(enc_in, torch.cat([r, h_enc], 1)), cell_enc)  # eq. 5
        mu, log_sigma = q_product(p.q_bias, h_enc).chunk(2, 1)  # eq. 1-2
        z = torch.addcmul(mu, torch.exp(log_sigma), noise[t])  # eq. 6, fresh ε every step
        h_dec, cell_dec = lstm_cell(z_product(dec_in, z), cell_dec)  # eq. 7
        if t < c.T - 1:
            write_attn, w, read_raw, enc_in, dec_in = from_h_dec_product(p.h_dec_bias, h_dec).split(sizes, 1)
        else:  # the last step only writes
            last = from_h_dec_product(p.h_dec_bias, h_dec, columns=p.write_columns)
            write_attn, w = last.split(sizes[:2], 1)
        update, _, _ = model.place(w, write_attn if c.attention else None)
        canvas = canvas + update  # eq. 8
        kls.append(gaussian_kl(mu, log_sigma))  # eq. 11, one step
        if importance:
            ratios.append(log_q_over_p(z, noise[t], log_sigma))
    return DrawOutput(
        recon=model.reconstruction_nll(canvas, x),
        kl=torch.stack(kls, 1),
        log_ratio=torch.stack(ratios, 1).sum(1) if importance else None,
        trace=None,
    )


def _column_sizes(model: Draw) -> list[int]:
    """Widths of [write attn | write | read attn | encoder | decoder] in the h^dec product."""
    c = model.config
    attn = 5 if c.attention else 0
    return [attn, c.write_size, attn, 4 * c.enc_size, 4 * c.dec_size]
