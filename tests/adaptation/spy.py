"""An adaptation that records what each training step gives it, for the tests."""

import torch
from torch import nn

from serlab.adaptation.protocol import Domain

SEEN: list[tuple[list[str], list[str]]] = []  # (source ids, target ids) per step


class Spy(nn.Module):
    """Records both sides' ids and returns a zero term that still reaches the model."""

    def __init__(self, embedding_size: int, input_size: int) -> None:
        super().__init__()
        self.sizes = (embedding_size, input_size)

    def forward(self, source: Domain, target: Domain, progress: float) -> torch.Tensor:
        assert source.inputs.shape[1] == target.inputs.shape[1] == self.sizes[1]
        assert source.embedding.shape[1] == self.sizes[0]
        SEEN.append((list(source.ids), list(target.ids)))
        return 0.0 * target.embedding.sum()
