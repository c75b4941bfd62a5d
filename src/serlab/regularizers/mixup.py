"""Mixup on features (Zhang et al. 2018): train on blends of two utterances and of their targets."""

from __future__ import annotations

import torch

from serlab.regularizers.protocol import BatchMixer


class Mixup(BatchMixer):
    """Blends each utterance's features with a partner's, weight lam ~ Beta(alpha, alpha)."""

    def __init__(self, alpha: float = 0.2) -> None:
        if alpha <= 0:
            raise ValueError(f"regularizer.mixup.alpha must be > 0, got {alpha}")
        self.alpha = alpha

    def mix(
        self, feats: torch.Tensor, frames: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Mixed features, their frame counts, the partner order and lam (the weight of the originals)."""
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        order = torch.randperm(feats.shape[0], device=feats.device)
        mixed = lam * feats + (1 - lam) * feats[order]
        return mixed, torch.maximum(frames, frames[order]), order, lam
