"""The model's training pass as a module, so DistributedDataParallel and torch.compile can
wrap it and training and evaluation run the same path."""

from __future__ import annotations

from torch import Tensor, nn

from drawstudio.model.draw import Draw, DrawOutput
from drawstudio.model.fused import fused_forward


class Objective(nn.Module):
    """The model's training pass as a module, so DistributedDataParallel and torch.compile
    can wrap it; `fused` picks the fast path (same numbers as the plain one) where it applies."""

    def __init__(self, model: Draw, fused: bool):
        super().__init__()
        self.model = model
        self.fused = fused and not model.config.layer_norm  # the fused path packs plain LSTM weights

    def forward(self, x: Tensor, labels: Tensor | None = None, noise: Tensor | None = None,
                importance: bool = False) -> DrawOutput:
        if self.fused:
            return fused_forward(self.model, x, labels, noise, importance)
        return self.model(x, labels, noise, importance=importance)
