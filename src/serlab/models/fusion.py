"""A CRNN over frames joined with utterance-level vector streams (e.g. openSMILE functionals)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from serlab.config_check import ConfigError
from serlab.models.crnn import CRNN
from serlab.models.output import ModelOutput


class VectorBranch(nn.Module):
    """One vector stream, flattened, through one ReLU layer (none if hidden=0). Its input arrives
    standardised with training-set statistics (the run's StreamStatistics)."""

    def __init__(self, shape: Sequence[int], hidden: int) -> None:
        super().__init__()
        if hidden < 0:
            raise ValueError(f"model.vector_hidden must be >= 0 (0: the head reads the stream directly), got {hidden}")
        size = math.prod(shape)
        layers = [nn.Linear(size, hidden), nn.ReLU()] if hidden else []
        self.layer = nn.Sequential(nn.Dropout(0.0), *layers)  # the dropout regularizer sets its rate
        self.out_features = hidden or size

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.layer(values.flatten(1))


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
        missing = [name for name in streams if name not in vector_shapes]
        if missing or not streams:
            given = ", ".join(f"data.streams.{name}" for name in vector_shapes) or "none"
            raise ConfigError(
                f"model.streams: model=fusion joins {list(streams)}, but the data provides {given}: add the "
                f"data option that computes {missing[0] if missing else 'one'} (e.g. data/streams/functionals=compare)"
            )
        super().__init__(n_features, n_classes, **crnn)
        self.reads = tuple(streams)
        branches = {name: VectorBranch(vector_shapes[name], vector_hidden) for name in streams}
        self.branches = nn.ModuleDict(branches)
        joined = self.pooling.out_features + sum(branch.out_features for branch in branches.values())
        self.head = nn.Linear(joined, n_classes)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, vectors: Mapping[str, torch.Tensor] | None = None
    ) -> ModelOutput:
        if vectors is None:
            raise ValueError(f"model=fusion reads the vector streams {list(self.reads)}, and none were given")
        sequence, lengths = self.encoder(features, lengths)
        pooled = self.pooling(self.dropout(sequence), lengths)
        joined = torch.cat([pooled, *(branch(vectors[name]) for name, branch in self.branches.items())], dim=-1)
        return ModelOutput(logits=self.head(self.dropout(joined)))
