"""The DRAW model (Gregor et al. 2015), read top to bottom as the paper's equations.

Per step t = 1..T (eq. 3-8):
    x̂_t     = x − σ(c_{t−1})
    r_t      = read(x, x̂_t, h^dec_{t−1})
    h^enc_t  = LSTM^enc(h^enc_{t−1}, [r_t, h^dec_{t−1}])
    z_t      ~ Q(Z_t | h^enc_t)          fresh noise every step
    h^dec_t  = LSTM^dec(h^dec_{t−1}, z_t)
    c_t      = c_{t−1} + write(h^dec_t)

`forward` here is the plain reference; `drawstudio.model.fused` runs the same
parameters through fewer, larger operations and a test pins the two together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drawstudio.config import ModelConfig
from drawstudio.model import attention as att
from drawstudio.model.layer_norm_lstm import LayerNormLSTMCell
from drawstudio.model.likelihood import bernoulli_nll, gaussian_kl, log_q_over_p, logistic_nll


@dataclass
class Trace:
    """Everything the studio shows of one pass, per step (first axis T)."""

    canvases: Tensor  # (T, B, C, H, W) canvas logits c_1..c_T
    read: att.AttentionParams | None  # each (T, B); None without attention
    write: att.AttentionParams | None  # each (T, B)
    read_glimpses: Tensor  # (T, B, 2, C, N, N) what the encoder saw of x and x̂ (or the whole images)
    write_patches: Tensor  # (T, B, C, N, N) the decoder's patch w_t before it is placed (or the whole write)


@dataclass
class DrawOutput:
    recon: Tensor  # (B,) −log D(x | c_T) in nats
    kl: Tensor  # (B, T) KL of each step in nats
    log_ratio: Tensor | None  # (B,) Σ_t log Q(z_t|·) − log P(z_t); for the importance-weighted bound
    trace: Trace | None

    @property
    def loss(self) -> Tensor:
        """Negative variational bound per image: L^x + L^z (eq. 9-12)."""
        return self.recon + self.kl.sum(1)


class Draw(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        c = config
        cond = c.num_classes
        lstm = LayerNormLSTMCell if c.layer_norm else nn.LSTMCell
        self.encoder = lstm(c.read_size + c.dec_size + cond, c.enc_size)
        self.q = nn.Linear(c.enc_size, 2 * c.z_size)  # (μ, log σ), eq. 1-2
        self.decoder = lstm(c.z_size + cond, c.dec_size)
        self.write_layer = nn.Linear(c.dec_size, c.write_size)  # w_t, eq. 28 (or eq. 18 without attention)
        if c.attention:
            self.read_attention = nn.Linear(c.dec_size, 5)  # eq. 21 for the read
            self.write_attention = nn.Linear(c.dec_size, 5)  # eq. 21 for the write
            self._init_read_grid()
            self._init_filter_width(self.write_attention, c.write_n, 1.0, c.write_sigma_init)
            self._init_intensities()
        canvas0 = torch.full((c.channels, c.height, c.width), float(c.canvas_init))
        self.canvas0 = nn.Parameter(canvas0, requires_grad=c.learn_canvas)
        if c.likelihood == "logistic":
            self.log_scale = nn.Parameter(torch.full((c.channels,), -3.0))  # per-channel logistic scale

    def _init_read_grid(self) -> None:
        """Start the read's grid at `read_stride_init` of the stride that spans the image, its
        filters `read_sigma_init` of that stride wide. The paper's start (the grid spanning the
        image, σ² = 1) puts an N=2 read on the four corner pixels, blank in MNIST: the encoder
        sees nothing and training learns to ignore z (KL → 0.03 nats). Filters half a stride wide
        there see blurred quarters of the image, too little to tell digits apart (test bound
        157.7 after 600 steps at T=16). Half the stride and filters ~2 px wide put the four
        glimpses on the strokes around the centre, and the latents carry 25 nats by then (126.9).
        docs/experiments/first-minute.md has the measurements."""
        c = self.config
        if c.read_stride_init != 1:  # 1 leaves PyTorch's default bias, as before this setting existed
            with torch.no_grad():
                self.read_attention.bias[3] = math.log(c.read_stride_init)  # log δ̃, eq. 24
        self._init_filter_width(self.read_attention, c.read_n, c.read_stride_init, c.read_sigma_init)

    def _init_filter_width(self, layer: nn.Linear, n: int, stride_share: float, sigma_strides: float) -> None:
        """Start the filters `sigma_strides` of the initial stride wide (0 keeps PyTorch's
        default bias, σ² ≈ 1). The write starts at a quarter of its stride: narrower filters draw
        sharp strokes, which the blur of wider ones (σ ≈ 3.4 px at half a stride) never can."""
        if sigma_strides == 0:
            return
        c = self.config
        stride = (max(c.height, c.width) - 1) / max(n - 1, 1) * stride_share  # δ, eq. 24
        with torch.no_grad():
            layer.bias[2] = 2 * math.log(sigma_strides * stride)  # log σ²

    def _init_intensities(self) -> None:
        """Start the read's γ at `read_gamma_init` and the write's at `write_gamma_init` (a value
        of 1 leaves PyTorch's default bias, as before these settings existed). Both scales are
        far off at γ = 1. A 2×2 glimpse is four weighted means of the image, which differ between
        digits by only ~0.05 (std over binarized MNIST at the initial filters), so the encoder's
        input hardly depends on the image. The write spreads each patch value over a normalised
        filter σ ≈ 3.4 pixels wide, so a pixel gets ~1/70 of it, and z barely moves the canvas.
        Either way z is mostly noise to the decoder and training settles into ignoring it (KL
        2.5 nats after 600 steps at T=16). Adam changes a weight by about the learning rate
        whatever the scale around it, so the right scales at the start also mean faster learning.
        docs/experiments/first-minute.md has the measurements."""
        c = self.config
        for layer, gamma in ((self.read_attention, c.read_gamma_init), (self.write_attention, c.write_gamma_init)):
            if gamma != 1:
                with torch.no_grad():
                    layer.bias[4] = math.log(gamma)  # log γ, eq. 21; the write divides by it (eq. 29)

    # ---- read and write -------------------------------------------------------------

    def read(self, x: Tensor, x_hat: Tensor, h_dec: Tensor) -> tuple[Tensor, att.AttentionParams | None]:
        """r_t = read(x, x̂_t, h^dec_{t−1}) (eq. 4), flattened to (B, read_size)."""
        raw = self.read_attention(h_dec) if self.config.attention else None  # eq. 21
        return self.glimpse(x, x_hat, raw)

    def write(self, h_dec: Tensor) -> tuple[Tensor, Tensor, att.AttentionParams | None]:
        """write(h^dec_t): the canvas update and the patch w_t it came from."""
        raw = self.write_attention(h_dec) if self.config.attention else None  # eq. 21
        return self.place(self.write_layer(h_dec), raw)  # w_t, eq. 28

    def glimpse(self, x: Tensor, x_hat: Tensor, raw: Tensor | None) -> tuple[Tensor, att.AttentionParams | None]:
        """The read given its attention outputs `raw` (B, 5). → (B, read_size), params."""
        c = self.config
        if not c.attention:
            return torch.cat([x.flatten(1), x_hat.flatten(1)], 1), None  # eq. 17
        params = att.attention_params(raw, c.height, c.width, c.read_n)  # eq. 22-24
        fx, fy = att.filterbanks(params, c.read_n, c.height, c.width)  # eq. 25-26
        both = torch.cat([x, x_hat], 1)  # (B, 2C, H, W): one product reads both
        return att.read_glimpse(both, fx, fy, params.gamma).flatten(1), params  # eq. 27

    def place(self, w: Tensor, raw: Tensor | None) -> tuple[Tensor, Tensor, att.AttentionParams | None]:
        """The write given w_t (B, write_size) and its attention outputs `raw` (B, 5).
        → canvas update (B, C, H, W), the patch as an image, params."""
        c = self.config
        if not c.attention:
            update = w.view(-1, c.channels, c.height, c.width)  # eq. 18
            return update, update, None
        params = att.attention_params(raw, c.height, c.width, c.write_n)  # eq. 22-24
        fx, fy = att.filterbanks(params, c.write_n, c.height, c.width)  # eq. 25-26
        patch = w.view(-1, c.channels, c.write_n, c.write_n)  # (B, C, N, N)
        return att.write_patch(patch, fx, fy, params.gamma), patch, params  # eq. 29

    # ---- the model --------------------------------------------------------------------

    def forward(
        self,
        x: Tensor,
        labels: Tensor | None = None,
        noise: Tensor | None = None,
        record: bool = False,
        importance: bool = False,
    ) -> DrawOutput:
        """One pass through all T steps. x: (B, C, H, W) in [0, 1]; labels: (B,) class ids;
        noise: (T, B, Z) standard normal ε for the T samples (drawn here when None)."""
        c = self.config
        batch = x.shape[0]
        if noise is None:
            noise = self.draw_noise(batch, x)
        y = self.condition(labels, batch, x)  # (B, K), K = 0 when unconditional
        h_enc, cell_enc = self.zero_state(batch, c.enc_size, x)
        h_dec, cell_dec = self.zero_state(batch, c.dec_size, x)
        canvas = self.canvas0.expand(batch, -1, -1, -1)  # c_0
        kls, ratios, steps = [], [], []
        for t in range(c.T):
            x_hat = x - torch.sigmoid(canvas)  # eq. 3
            r, read_params = self.read(x, x_hat, h_dec)  # eq. 4
            h_enc, cell_enc = self.encoder(torch.cat([r, h_dec, y], 1), (h_enc, cell_enc))  # eq. 5
            mu, log_sigma = self.q(h_enc).chunk(2, 1)  # eq. 1-2
            z = mu + torch.exp(log_sigma) * noise[t]  # eq. 6, reparameterised, fresh ε every step
            h_dec, cell_dec = self.decoder(torch.cat([z, y], 1), (h_dec, cell_dec))  # eq. 7
            update, patch, write_params = self.write(h_dec)
            canvas = canvas + update  # eq. 8
            kls.append(gaussian_kl(mu, log_sigma))  # eq. 11, one step
            if importance:
                ratios.append(log_q_over_p(z, noise[t], log_sigma))
            if record:
                steps.append((canvas, read_params, write_params, r, patch))
        return DrawOutput(
            recon=self.reconstruction_nll(canvas, x),
            kl=torch.stack(kls, 1),
            log_ratio=torch.stack(ratios, 1).sum(1) if importance else None,
            trace=self.make_trace(steps, batch) if record else None,
        )

    @torch.no_grad()
    def generate(
        self, n: int, labels: Tensor | None = None, noise: Tensor | None = None
    ) -> tuple[Tensor, att.AttentionParams | None]:
        """Draw n images from the prior; `noise` (T, n, Z) fixes the latents. → canvas
        probabilities σ(c_t) for every step (T, n, C, H, W) and the write attention (each (T, n))."""
        c = self.config
        y = self.condition(labels, n, self.canvas0)
        h_dec, cell_dec = self.zero_state(n, c.dec_size, self.canvas0)
        canvas = self.canvas0.expand(n, -1, -1, -1)
        latents = self.draw_noise(n, self.canvas0) if noise is None else noise  # eq. 13, z̃_t ~ P(Z) = N(0, I)
        canvases, writes = [], []
        for z in latents:
            h_dec, cell_dec = self.decoder(torch.cat([z, y], 1), (h_dec, cell_dec))  # eq. 14
            update, _, write_params = self.write(h_dec)
            canvas = canvas + update  # eq. 15
            canvases.append(torch.sigmoid(canvas))
            writes.append(write_params)
        return torch.stack(canvases), _stack_params(writes)

    # ---- helpers ----------------------------------------------------------------------

    def condition(self, labels: Tensor | None, batch: int, like: Tensor) -> Tensor:
        """The one-hot label (B, K), or an empty (B, 0) for an unconditional model."""
        k = self.config.num_classes
        if k == 0:
            return like.new_zeros(batch, 0)
        if labels is None:
            raise ValueError("a conditional DRAW model needs labels")
        return F.one_hot(labels.long(), k).to(like.dtype)

    def draw_noise(self, batch: int, like: Tensor) -> Tensor:
        """ε for every step at once, (T, B, Z): independent per step, one RNG call."""
        c = self.config
        return torch.randn(c.T, batch, c.z_size, device=like.device, dtype=like.dtype)

    @staticmethod
    def zero_state(batch: int, size: int, like: Tensor) -> tuple[Tensor, Tensor]:
        zeros = like.new_zeros(batch, size)
        return zeros, zeros

    def reconstruction_nll(self, canvas: Tensor, x: Tensor) -> Tensor:
        """−log D(x | c_T) per image in nats (eq. 9)."""
        if self.config.likelihood == "logistic":
            return logistic_nll(canvas, x, self.log_scale)
        return bernoulli_nll(canvas, x)

    def make_trace(self, steps: list, batch: int) -> Trace:
        c = self.config
        canvases, reads, writes, glimpses, patches = zip(*steps)
        if c.attention:
            glimpses = torch.stack(glimpses).view(c.T, batch, 2, c.channels, c.read_n, c.read_n)
        else:
            glimpses = torch.stack(glimpses).view(c.T, batch, 2, c.channels, c.height, c.width)
        return Trace(
            canvases=torch.stack(canvases),
            read=_stack_params(reads),
            write=_stack_params(writes),
            read_glimpses=glimpses,
            write_patches=torch.stack(patches),
        )


def _stack_params(per_step: list[att.AttentionParams | None]) -> att.AttentionParams | None:
    if per_step[0] is None:
        return None
    return att.AttentionParams(*(torch.stack(values) for values in zip(*per_step)))
