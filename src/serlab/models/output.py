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
    # (batch, head inputs): the utterance representation the head scores, which domain adaptation aligns
    embedding: torch.Tensor | None = None

    def utterance_logits(self) -> torch.Tensor:
        """`logits`, for utterance-level losses (check_config pairs those with models that give them)."""
        if self.logits is None:
            raise ValueError("the model gave frame scores only, but this loss scores utterances")
        return self.logits

    def frames(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`frame_logits` and `frame_lengths`, for frame-level losses such as CTC."""
        if self.frame_logits is None or self.frame_lengths is None:
            raise ValueError("the model gave utterance scores only, but this loss scores frames")
        return self.frame_logits, self.frame_lengths

    def utterance_embedding(self) -> torch.Tensor:
        """`embedding`, for what works on the utterance representation (domain adaptation)."""
        if self.embedding is None:
            raise ValueError("the model gave frame scores only, but adaptation works on utterance representations")
        return self.embedding
