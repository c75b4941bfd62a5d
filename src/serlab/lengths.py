"""Length bookkeeping for padded batches, so padding never changes a prediction."""

from __future__ import annotations

import torch


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean (batch, max_len) mask, True on valid positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(x: torch.Tensor, lengths: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Mean over the valid positions of `dim`."""
    mask = length_mask(lengths, x.shape[dim]).to(x.dtype)
    shape = [1] * x.dim()
    shape[0], shape[dim] = mask.shape
    mask = mask.view(shape)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1)


def ceil_div(lengths: torch.Tensor, factor: int) -> torch.Tensor:
    """Valid lengths after grouping every `factor` steps, a trailing partial group included."""
    return torch.div(lengths + factor - 1, factor, rounding_mode="floor")
