"""Hand-made source and target sides for the adaptation tests."""

import torch

from serlab.adaptation.protocol import Domain


def domain(embedding: torch.Tensor, logits: torch.Tensor | None = None, prefix: str = "s") -> Domain:
    """A side whose inputs are its embedding and whose ids are prefix0, prefix1, ..."""
    n = len(embedding)
    logits = torch.zeros(n, 4) if logits is None else logits
    return Domain(embedding, logits, embedding.detach().clone(), [f"{prefix}{i}" for i in range(n)])


def shifted_domains(n: int = 64, shift: float = 3.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 2) source and target points: dimension 0 is shared, dimension 1 is offset by `shift` in the target."""
    g = torch.Generator().manual_seed(seed)
    source = torch.randn(n, 2, generator=g)
    target = torch.randn(n, 2, generator=g) + torch.tensor([0.0, shift])
    return source, target
