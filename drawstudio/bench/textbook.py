"""A textbook DRAW for `drawstudio bench` to race: the paper read as plainly as possible.

One Python loop over the T steps with `nn.LSTMCell`, the filterbank of §3.2 built per
step, Adam with PyTorch's defaults and no process settings of ours (no denormal flushing,
no allocator or threading changes), so the speed-up `bench` reports is what the project's
own path gains over the code a reader of the paper would write. It shares no code with
`drawstudio.model` on purpose: an optimisation there must not speed up the baseline too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TextbookDraw(nn.Module):
    def __init__(self, T: int, read_n: int, write_n: int, enc_size: int, dec_size: int, z_size: int,
                 height: int = 28, width: int = 28):
        super().__init__()
        self.T, self.read_n, self.write_n, self.z_size = T, read_n, write_n, z_size
        self.height, self.width = height, width
        self.encoder = nn.LSTMCell(2 * read_n * read_n + dec_size, enc_size)
        self.q = nn.Linear(enc_size, 2 * z_size)
        self.decoder = nn.LSTMCell(z_size, dec_size)
        self.read_attention = nn.Linear(dec_size, 5)
        self.write_attention = nn.Linear(dec_size, 5)
        self.write_layer = nn.Linear(dec_size, write_n * write_n)

    def filterbanks(self, h_dec: Tensor, layer: nn.Linear, n: int) -> tuple[Tensor, Tensor, Tensor]:
        gx_, gy_, log_sigma2, log_delta, log_gamma = layer(h_dec).unbind(1)
        a, b = self.width, self.height
        gx = (a + 1) / 2 * (gx_ + 1)
        gy = (b + 1) / 2 * (gy_ + 1)
        delta = (max(a, b) - 1) / (n - 1) * torch.exp(log_delta)
        sigma2 = torch.exp(log_sigma2)
        i = torch.arange(1, n + 1, dtype=h_dec.dtype)
        mu_x = gx[:, None] + (i - n / 2 - 0.5) * delta[:, None]
        mu_y = gy[:, None] + (i - n / 2 - 0.5) * delta[:, None]
        cols = torch.arange(1, a + 1, dtype=h_dec.dtype)
        rows = torch.arange(1, b + 1, dtype=h_dec.dtype)
        fx = torch.exp(-((cols - mu_x[:, :, None]) ** 2) / (2 * sigma2[:, None, None]))
        fy = torch.exp(-((rows - mu_y[:, :, None]) ** 2) / (2 * sigma2[:, None, None]))
        fx = fx / fx.sum(2, keepdim=True).clamp_min(1e-8)
        fy = fy / fy.sum(2, keepdim=True).clamp_min(1e-8)
        return fx, fy, torch.exp(log_gamma)

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        """The negative variational bound of each image. x: (B, H, W) in {0, 1}; noise: (T, B, Z) or drawn here."""
        batch = x.shape[0]
        h_enc = c_enc = x.new_zeros(batch, self.encoder.hidden_size)
        h_dec = c_dec = x.new_zeros(batch, self.decoder.hidden_size)
        canvas = x.new_zeros(batch, self.height, self.width)
        kl = x.new_zeros(batch)
        for t in range(self.T):
            x_hat = x - torch.sigmoid(canvas)
            fx, fy, gamma = self.filterbanks(h_dec, self.read_attention, self.read_n)
            read_x = gamma[:, None, None] * (fy @ x @ fx.transpose(1, 2))
            read_x_hat = gamma[:, None, None] * (fy @ x_hat @ fx.transpose(1, 2))
            r = torch.cat([read_x.flatten(1), read_x_hat.flatten(1)], 1)
            h_enc, c_enc = self.encoder(torch.cat([r, h_dec], 1), (h_enc, c_enc))
            mu, log_sigma = self.q(h_enc).chunk(2, 1)
            sigma = torch.exp(log_sigma)
            z = mu + sigma * (torch.randn_like(mu) if noise is None else noise[t])
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            fx, fy, gamma = self.filterbanks(h_dec, self.write_attention, self.write_n)
            w = self.write_layer(h_dec).view(batch, self.write_n, self.write_n)
            canvas = canvas + (fy.transpose(1, 2) @ w @ fx) / gamma[:, None, None]
            kl = kl + 0.5 * (mu**2 + sigma**2 - 2 * log_sigma - 1).sum(1)
        recon = F.binary_cross_entropy_with_logits(canvas, x, reduction="none").sum((1, 2))
        return recon + kl


def train_step_function(model: TextbookDraw, batch_size: int) -> Callable[[], None]:
    """A closure that runs one Adam step on a fixed random binary batch, as a tutorial would."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = (torch.rand(batch_size, model.height, model.width) > 0.5).float()

    def step() -> None:
        loss = model(x).mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()

    return step
