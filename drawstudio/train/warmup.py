"""KL warm-up: train on recon + w·KL with w rising linearly from 0 to 1 over the first
`kl_warmup_steps` steps, and on the true bound (w = 1) from then on.

Early on the latents are mostly noise to the decoder and the full KL price drives them out
before the decoder can learn to use them (docs/experiments/first-minute.md); a lower
price at first lets that start. Only the gradient sees w: the logged loss, the KL and every
evaluation are the true bound at every step.
"""

from __future__ import annotations

from torch import Tensor

from drawstudio.model.draw import DrawOutput


def kl_weight(step: int, warmup_steps: int) -> float:
    """The KL's weight in the training objective at `step` (0-based, before its update): 1 from
    step `warmup_steps` on, and always 1 when `warmup_steps` is 0."""
    return 1.0 if step >= warmup_steps else step / warmup_steps


def training_loss(out: DrawOutput, step: int, warmup_steps: int) -> Tensor:
    """The mean objective the optimiser minimises at `step`; the bound itself once warm."""
    weight = kl_weight(step, warmup_steps)
    if weight == 1:
        return out.loss.mean()
    return (out.recon + weight * out.kl.sum(1)).mean()
