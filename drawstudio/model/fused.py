"""The same DRAW pass as `Draw.forward`, with the per-step work folded into fewer operations.

DRAW spends its time in 64 steps of small products, where per-operation overhead rivals
the arithmetic. Everything that reads h^dec_t is one product: the write and its attention
at step t and, at step t+1, the read attention, the encoder's h^dec input and the
decoder's recurrence (5 products → 1). The encoder's two inputs [r_t, h^enc_{t−1}] are one
product, the LSTM gates are reordered to (i, f, o, g) so one sigmoid covers three gates,
and the label's contribution, constant over steps, is folded into the biases once.

Packing happens inside autograd on every call, so gradients reach the module's own
parameters and the optimiser never sees packed copies. `tests/test_fused.py` pins this
path to the plain one (same loss and gradients for the same noise).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from drawstudio.model.draw import Draw, DrawOutput
from drawstudio.model.likelihood import gaussian_kl, log_q_over_p


class Packed(NamedTuple):
    h_dec_weight: Tensor  # (P, D): [write attn 5 | write | read attn 5 | encoder 4E | decoder 4D] rows
    h_dec_bias: Tensor  # (P,) or (B, P) when a label is folded in
    encoder_weight: Tensor  # (R + E, 4E) for [r_t, h^enc_{t−1}]
    q_weight: Tensor  # (E, 2Z)
    q_bias: Tensor  # (2Z,)
    z_weight: Tensor  # (Z, 4D)
    write_rows: int  # rows of h_dec_weight the last step needs (write and its attention)


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
        h_dec_weight=torch.cat([*write_w, *read_w, enc_ih[:, read:read + dec_size], dec.weight_hh[dec_order]]),
        h_dec_bias=torch.cat(biases, 1),
        encoder_weight=torch.cat([enc_ih[:, :read], enc.weight_hh[enc_order]], 1).T,
        q_weight=model.q.weight.T,
        q_bias=model.q.bias,
        z_weight=dec_ih[:, :c.z_size].T,
        write_rows=sum(w.shape[0] for w in write_w),
    )


def lstm_cell(gates: Tensor, cell: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM update from pre-activations laid out (i, f, o, g). (B, 4H), (B, H) → h, c."""
    size = cell.shape[1]
    sig = torch.sigmoid(gates[:, : 3 * size])
    i, f, o = sig.split(size, 1)
    cell = torch.addcmul(f * cell, i, torch.tanh(gates[:, 3 * size:]))
    return o * torch.tanh(cell), cell


def fused_forward(
    model: Draw,
    x: Tensor,
    labels: Tensor | None = None,
    noise: Tensor | None = None,
    importance: bool = False,
) -> DrawOutput:
    """`Draw.forward` without the trace, computed with packed weights."""
    c = model.config
    batch = x.shape[0]
    if noise is None:
        noise = model.draw_noise(batch, x)
    y = model.condition(labels, batch, x)
    p = pack(model, y)
    write_split, read_split = _splits(model)
    h_enc, cell_enc = model.zero_state(batch, c.enc_size, x)
    cell_dec = x.new_zeros(batch, c.dec_size)
    from_h_dec = p.h_dec_bias  # h^dec_0 = 0, so its product is the bias alone
    canvas = model.canvas0.expand(batch, -1, -1, -1)
    kls, ratios = [], []
    for t in range(c.T):
        read_raw, enc_in, dec_in = from_h_dec[:, write_split:].split(read_split, 1)
        x_hat = x - torch.sigmoid(canvas)  # eq. 3
        r, _ = model.glimpse(x, x_hat, read_raw if c.attention else None)  # eq. 4
        gates = torch.addmm(enc_in, torch.cat([r, h_enc], 1), p.encoder_weight)
        h_enc, cell_enc = lstm_cell(gates, cell_enc)  # eq. 5
        mu, log_sigma = torch.addmm(p.q_bias, h_enc, p.q_weight).chunk(2, 1)  # eq. 1-2
        z = torch.addcmul(mu, torch.exp(log_sigma), noise[t])  # eq. 6, fresh ε every step
        h_dec, cell_dec = lstm_cell(torch.addmm(dec_in, z, p.z_weight), cell_dec)  # eq. 7
        rows = p.write_rows if t == c.T - 1 else p.h_dec_weight.shape[0]  # the last step only writes
        from_h_dec = torch.addmm(p.h_dec_bias[:, :rows], h_dec, p.h_dec_weight[:rows].T)
        write_attn, w = from_h_dec[:, :write_split].split([write_split - c.write_size, c.write_size], 1)
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


def _splits(model: Draw) -> tuple[int, list[int]]:
    """Column where the write block ends, and the sizes of [read attn | encoder | decoder]."""
    c = model.config
    attn = 5 if c.attention else 0
    return attn + c.write_size, [attn, 4 * c.enc_size, 4 * c.dec_size]
