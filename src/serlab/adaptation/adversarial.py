"""Domain-adversarial training (Ganin & Lempitsky, ICML 2015): a domain classifier on the utterance
representation, trained through a gradient reversal layer so that the representation stops telling
source from target."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from serlab.adaptation.protocol import Domain


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by -scale."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reversal_scale(progress: float, ramp: float) -> float:
    """Ganin's schedule 2 / (1 + exp(-ramp * progress)) - 1: 0 at the start, near 1 by the end, so the domain
    classifier's noisy early gradients do not disturb the representation; ramp=0 holds it at 1."""
    return 1.0 if ramp == 0 else 2.0 / (1.0 + math.exp(-ramp * progress)) - 1.0


class DomainAdversarial(nn.Module):
    """A two-layer domain classifier on the embedding; its cross-entropy is the adaptation term. The classifier
    minimises it while the reversed gradient, `weight` times the schedule, makes the model maximise it."""

    def __init__(self, embedding_size: int, hidden: int = 128, weight: float = 1.0, ramp: float = 10.0) -> None:
        super().__init__()
        if hidden < 1 or weight < 0 or ramp < 0:
            raise ValueError(
                f"adaptation: hidden must be >= 1 and weight, ramp >= 0; got hidden={hidden}, weight={weight}, "
                f"ramp={ramp}"
            )
        self.classifier = nn.Sequential(nn.Linear(embedding_size, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.weight = weight
        self.ramp = ramp

    def forward(self, source: Domain, target: Domain, progress: float) -> torch.Tensor:
        joined = torch.cat([source.embedding, target.embedding])
        is_target = torch.cat([torch.zeros(len(source.embedding)), torch.ones(len(target.embedding))]).to(joined)
        scale = self.weight * reversal_scale(progress, self.ramp)
        logits = self.classifier(GradientReversal.apply(joined, scale)).squeeze(-1)
        return nn.functional.binary_cross_entropy_with_logits(logits, is_target)
