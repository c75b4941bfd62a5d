"""Self-training: the model labels the unlabelled target utterances it is confident about, and trains on them
beside the labelled source, relabelling every few epochs for a set number of rounds."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import nn

from serlab.adaptation.protocol import Domain

log = logging.getLogger(__name__)


def confident_picks(probs: torch.Tensor, threshold: float, balance: bool) -> torch.Tensor:
    """Indices of the utterances whose top probability reaches `threshold`; with `balance`, no class keeps more
    than an equal share of them (its most confident ones), so one dominant class cannot take over."""
    confidence, label = probs.max(dim=-1)
    picked = (confidence >= threshold).nonzero().squeeze(-1)
    if not balance or len(picked) == 0:
        return picked
    share = max(1, len(picked) // probs.shape[1])
    kept = []
    for c in range(probs.shape[1]):
        of_class = picked[label[picked] == c]
        kept.append(of_class[confidence[of_class].argsort(descending=True)[:share]])
    return torch.cat(kept).sort().values


class SelfTraining(nn.Module):
    """Pseudo-labels as a loss term: `weight` times the cross-entropy of the target utterances labelled in the
    latest round against their pseudo-labels. Rounds start at epoch `start_epoch` (after training on the source
    alone) and every `every` epochs after, `rounds` in all; each round labels anew with the current model."""

    def __init__(
        self,
        threshold: float = 0.9,
        rounds: int = 3,
        start_epoch: int = 10,
        every: int = 10,
        balance: bool = True,
        weight: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0 < threshold <= 1 or rounds < 1 or start_epoch < 0 or every < 1 or weight < 0:
            raise ValueError(
                "adaptation: threshold must lie in (0, 1], rounds and every be >= 1, start_epoch and weight >= 0; "
                f"got threshold={threshold}, rounds={rounds}, every={every}, start_epoch={start_epoch}, "
                f"weight={weight}"
            )
        self.threshold = threshold
        self.rounds = rounds
        self.start_epoch = start_epoch
        self.every = every
        self.balance = balance
        self.weight = weight
        self.pseudo: dict[str, int] = {}  # utterance id -> pseudo-label of the latest round

    def relabels_at(self, epoch: int) -> bool:
        since = epoch - self.start_epoch
        return since >= 0 and since % self.every == 0 and since // self.every < self.rounds

    def relabel(self, ids: Sequence[str], probs: torch.Tensor) -> None:
        picks = confident_picks(probs, self.threshold, self.balance)
        labels = probs.argmax(dim=-1)
        self.pseudo = {ids[i]: int(labels[i]) for i in picks.tolist()}
        counts = torch.bincount(labels[picks], minlength=probs.shape[1]).tolist()
        log.info("self-training: %d of %d target utterances pseudo-labelled (per class %s)",
                 len(self.pseudo), len(ids), counts)  # fmt: skip

    def forward(self, source: Domain, target: Domain, progress: float) -> torch.Tensor:
        rows = [i for i, uid in enumerate(target.ids) if uid in self.pseudo]
        if not rows:
            return target.logits.new_zeros(())
        labels = torch.tensor([self.pseudo[target.ids[i]] for i in rows], device=target.logits.device)
        return self.weight * nn.functional.cross_entropy(target.logits[rows], labels)

    def get_extra_state(self) -> dict[str, int]:
        # the pseudo-labels travel in checkpoints, so a resumed run continues the round it was in
        return dict(self.pseudo)

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.pseudo = dict(state or {})
