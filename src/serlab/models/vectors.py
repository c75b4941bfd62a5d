"""Heads over utterance-level vector streams (openSMILE functionals, pretrained-encoder statistics)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from serlab.config_check import ConfigError
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


class VectorBranches(nn.ModuleDict):
    """One `VectorBranch` per stream a model joins, by stream name; called on the streams, their outputs side by
    side (batch, out_features). A stream the data does not provide is refused, naming what it does."""

    def __init__(self, model: str, vector_shapes: Mapping[str, Sequence[int]], streams: Sequence[str], hidden: int):
        missing = [name for name in streams if name not in vector_shapes]
        if missing or not streams:
            given = ", ".join(f"data.streams.{name}" for name in vector_shapes) or "none"
            raise ConfigError(
                f"model.streams: model={model} joins {list(streams)}, but the data provides {given}: add the data "
                f"option that computes {missing[0] if missing else 'one'} (e.g. data/streams/functionals=compare)"
            )
        branches = {name: VectorBranch(vector_shapes[name], hidden) for name in streams}
        super().__init__(branches)
        self.model = model
        self.out_features = sum(branch.out_features for branch in branches.values())

    def forward(self, vectors: Mapping[str, torch.Tensor] | None) -> torch.Tensor:
        if vectors is None:
            raise ValueError(f"model={self.model} reads the vector streams {list(self)}, and none were given")
        return torch.cat([branch(vectors[name]) for name, branch in self.items()], dim=-1)


class VectorHead(nn.Module):
    """Scores utterances from vector streams alone: each stream's branch, concatenated, dropout, a linear head.

    With `vector_hidden=0` it is a linear classifier on the standardised streams (multinomial logistic
    regression when trained with cross-entropy and weight decay), the usual probe of frozen pretrained
    encoders. The frame stream is not read, so any frontend serves (frontend=logmel is cheap).
    """

    accepts = ("spectral", "waveform")
    frame_scores = False

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        vector_shapes: Mapping[str, Sequence[int]],
        streams: Sequence[str] = ("functionals",),
        vector_hidden: int = 0,
    ) -> None:
        super().__init__()
        self.reads = tuple(streams)
        self.branches = VectorBranches(type(self).__name__, vector_shapes, streams, vector_hidden)
        self.dropout = nn.Dropout(0.0)  # rate set by the dropout regularizer
        self.head = nn.Linear(self.branches.out_features, n_classes)
        self.tasks = nn.ModuleDict()

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, vectors: Mapping[str, torch.Tensor] | None = None
    ) -> ModelOutput:
        joined = self.dropout(self.branches(vectors))
        return ModelOutput(logits=self.head(joined), embedding=joined)
