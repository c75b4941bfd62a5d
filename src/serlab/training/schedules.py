"""Learning-rate schedules that torch does not ship in the form the configs need."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.05, min_factor: float = 0.01
) -> LambdaLR:
    """Linear warm-up over the first `warmup_fraction` of steps, then cosine decay to `min_factor` x lr."""
    if not 0 <= warmup_fraction < 1 or not 0 <= min_factor <= 1:
        raise ValueError("scheduler: need 0 <= warmup_fraction < 1 and 0 <= min_factor <= 1")
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
