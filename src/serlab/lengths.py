"""Length bookkeeping for padded batches, so padding never changes a prediction."""

from __future__ import annotations

import torch
from torch import nn


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


class PaddingAware(nn.Module):
    """A module that reads `lengths` to keep padding out of every row, and that can skip this when told that
    no row is padded (`assume_whole_sequences`): tracers and exporters cannot branch on lengths."""

    whole_sequences = False


def assume_whole_sequences(model: nn.Module) -> nn.Module:
    """Let every padding-aware layer in `model` skip its padding handling without reading lengths.

    Only for models whose every input fills its batch, e.g. an exported model that takes one clip
    (or equal-length clips) and no lengths.
    """
    for layer in model.modules():
        if isinstance(layer, PaddingAware):
            layer.whole_sequences = True
    return model
