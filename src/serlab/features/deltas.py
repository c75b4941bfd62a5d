"""Regression deltas over time that never look into padding."""

from __future__ import annotations

import torch


def length_aware_deltas(x: torch.Tensor, frames: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Regression deltas over time, repeating each utterance's edge frames instead of reading padding."""
    steps = torch.arange(x.shape[-1], device=x.device)
    last = (frames - 1).clamp_min(0)[:, None]
    out = torch.zeros_like(x)
    for k in range(1, width + 1):
        ahead = torch.minimum(steps[None] + k, last).clamp_min(0)
        behind = torch.minimum((steps[None] - k).clamp_min(0), last)
        gather = lambda idx: x.gather(-1, idx[:, None, :].expand(-1, x.shape[1], -1))  # noqa: E731
        out += k * (gather(ahead) - gather(behind))
    return out / (2 * sum(k * k for k in range(1, width + 1)))


def with_deltas(x: torch.Tensor, frames: torch.Tensor, orders: int) -> torch.Tensor:
    """(batch, features, time) -> (batch, features x (orders + 1), time): x, its deltas, their deltas, ..."""
    stacked = [x]
    for _ in range(orders):
        stacked.append(length_aware_deltas(stacked[-1], frames))
    return torch.cat(stacked, dim=1)
