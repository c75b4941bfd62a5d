"""A CRNN over frames joined with utterance-level vector streams (e.g. openSMILE functionals)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from serlab.models.crnn import CRNN
from serlab.models.output import ModelOutput
from serlab.models.vectors import VectorBranches


class Fusion(CRNN):
    """A CRNN branch (conv blocks, GRU/LSTM, pooling over time) and one branch per vector stream,
    concatenated before the head.

    After "Affect recognition by bridging the gap between end-to-end deep learning and
    conventional features" (ICASSP 2018): the learned frame representation and the hand-crafted
    functionals each get their own branch, and the head sees both. `streams` names the data.streams
    it joins; `vector_shapes` (every stream the data provides) comes from the builder; `crnn` takes
    model=crnn's settings.
    """

    frame_scores = False

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        vector_shapes: Mapping[str, Sequence[int]],
        streams: Sequence[str] = ("functionals",),
        vector_hidden: int = 128,
        **crnn: Any,
    ) -> None:
        super().__init__(n_features, n_classes, **crnn)
        self.reads = tuple(streams)
        self.branches = VectorBranches(type(self).__name__, vector_shapes, streams, vector_hidden)
        self.head = nn.Linear(self.pooling.out_features + self.branches.out_features, n_classes)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, vectors: Mapping[str, torch.Tensor] | None = None
    ) -> ModelOutput:
        streams = self.branches(vectors)
        sequence, lengths = self.encoder(features, lengths)
        pooled = self.pooling(self.dropout(sequence), lengths)
        joined = self.dropout(torch.cat([pooled, streams], dim=-1))
        return ModelOutput(logits=self.head(joined), embedding=joined)
