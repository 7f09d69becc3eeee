"""Building blocks shared by vidbench's BERT-style text networks (Chinese-CLIP's text tower,
GRiT's caption decoder), with BERT's parameter names so official checkpoints load strictly."""

from __future__ import annotations

import torch
from torch import nn


class DenseResidualNorm(nn.Module):
    """BERT's post-LN output block: ``LayerNorm(dense(x) + residual)`` (eps 1e-12); parameter
    names ``dense.*`` and ``LayerNorm.*`` as in BERT's ``BertSelfOutput`` / ``BertOutput``."""

    def __init__(self, d_in: int, d: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)
