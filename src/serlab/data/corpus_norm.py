"""Per-corpus standardisation of utterance-level vector streams (data.streams_per_corpus): each corpus's values
standardised with that corpus's own statistics, so recording conditions and language shift no corpus away from
the others."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from serlab.data.speaker_norm import moments

log = logging.getLogger(__name__)


class CorpusStandardiser:
    """Mean and deviation per corpus, taken from the training utterances of that corpus (`fit`); a corpus with no
    training utterances (the target of a cross-corpus run) gets them from the utterances it is applied to, its own
    unlabelled audio, which makes that corpus's results transductive."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.unseen: set[str] = set()  # corpora whose statistics came from their own test audio

    def fit(self, values: torch.Tensor, corpora: Sequence[str]) -> None:
        """Take each corpus's statistics from (versions, utterances, *shape) training values."""
        for corpus in sorted(set(corpora)):
            rows = torch.tensor([c == corpus for c in corpora])
            self.stats[corpus] = moments(values[:, rows].flatten(0, 1))

    def __call__(self, values: torch.Tensor, corpora: Sequence[str]) -> torch.Tensor:
        """(versions, utterances, *shape) values, each corpus's standardised with its statistics."""
        out = torch.empty_like(values)
        for corpus in sorted(set(corpora)):
            rows = torch.tensor([c == corpus for c in corpora])
            if corpus not in self.stats:
                log.info("data.streams_per_corpus: %s has no training utterances, so its %s statistics come from "
                         "its own unlabelled audio (transductive)", corpus, self.stream)  # fmt: skip
                self.stats[corpus] = moments(values[:, rows].flatten(0, 1))
                self.unseen.add(corpus)
            mean, std = self.stats[corpus]
            out[:, rows] = (values[:, rows] - mean) / std
        return out
