"""A CRNN over frames joined with utterance-level openSMILE functionals (conventional + learned features)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from serlab.models.crnn import CRNN
from serlab.models.output import ModelOutput


class FunctionalsBranch(nn.Module):
    """Standardises functionals with training-set statistics, then one ReLU layer (none if hidden=0)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_functionals: int, hidden: int) -> None:
        super().__init__()
        if hidden < 0:
            raise ValueError(
                f"model.functionals_hidden must be >= 0 (0: the head reads the functionals directly), got {hidden}"
            )
        self.register_buffer("mean", torch.zeros(n_functionals))
        self.register_buffer("std", torch.ones(n_functionals))
        layers = [nn.Linear(n_functionals, hidden), nn.ReLU()] if hidden else []
        self.layer = nn.Sequential(nn.Dropout(0.0), *layers)
        self.out_features = hidden or n_functionals

    @torch.no_grad()
    def set_statistics(self, functionals: torch.Tensor) -> None:
        """Mean and standard deviation of the training set's functionals (constant ones keep std 1)."""
        std = functionals.std(dim=0)
        self.mean.copy_(functionals.mean(dim=0))
        self.std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))

    def forward(self, functionals: torch.Tensor) -> torch.Tensor:
        return self.layer((functionals - self.mean) / self.std)


class Fusion(CRNN):
    """CRNN branch (conv blocks, GRU/LSTM, pooling over time) and functionals branch, concatenated before the head.

    After "Affect recognition by bridging the gap between end-to-end deep learning and
    conventional features" (ICASSP 2018): the learned frame representation and the hand-crafted
    functionals each get their own branch, and the head sees both. `crnn` takes model=crnn's settings.
    """

    reads_functionals = True
    frame_scores = False

    def __init__(
        self, n_features: int, n_classes: int, n_functionals: int, functionals_hidden: int = 128, **crnn: Any
    ) -> None:
        super().__init__(n_features, n_classes, **crnn)
        self.functionals = FunctionalsBranch(n_functionals, functionals_hidden)
        self.head = nn.Linear(self.pooling.out_features + self.functionals.out_features, n_classes)

    # also takes the utterances' functionals: SERModule passes them to models that set reads_functionals
    def forward(  # type: ignore[override]
        self, features: torch.Tensor, lengths: torch.Tensor, functionals: torch.Tensor
    ) -> ModelOutput:
        sequence, lengths = self.encoder(features, lengths)
        pooled = self.pooling(self.dropout(sequence), lengths)
        joined = torch.cat([pooled, self.functionals(functionals)], dim=-1)
        return ModelOutput(logits=self.head(self.dropout(joined)))
