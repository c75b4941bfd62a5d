"""What every model returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ModelOutput:
    """Utterance scores, or per-frame scores for frame-level losses, plus any auxiliary heads."""

    logits: torch.Tensor | None = None  # (batch, n_outputs), pre-softmax
    frame_logits: torch.Tensor | None = None  # (batch, frames, n_outputs)
    frame_lengths: torch.Tensor | None = None  # (batch,)
    heads: dict[str, torch.Tensor] = field(default_factory=dict)  # task name -> (batch, size)
