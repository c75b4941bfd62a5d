"""The shape every model shares: encoder -> length-aware pooling -> head(s)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from serlab.models.output import ModelOutput
from serlab.models.pooling import Pooling
from serlab.models.sequence import Encoder


class Classifier(nn.Module):
    """Runs an encoder over (batch, features, time) and scores utterances, or every frame.

    Subclasses build `encoder` (returning (batch, time, channels) and frame lengths) and
    `pooling` (which gives its `out_features`). With `frame_level=True` the head scores every
    frame (for CTC) instead of the pooled utterance. `tasks` adds one more head per auxiliary
    task on the pooled vector. It reads no vector streams: a model that joins some (e.g. Fusion)
    names them in `reads`, and `forward` receives them standardised in `vectors`.
    """

    accepts: tuple[str, ...] = ("spectral",)  # which frontends' features the encoder understands
    frame_scores = True  # whether the model takes frame_level=True (for frame-level losses such as CTC)
    reads: tuple[str, ...] = ()  # the data.streams it joins

    def __init__(
        self,
        encoder: Encoder,
        pooling: Pooling,
        n_classes: int,
        frame_level: bool = False,
        tasks: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(0.0)  # rate set by the dropout regularizer
        self.frame_level = frame_level
        pooled = pooling.out_features
        self.head = nn.Linear(encoder.out_features if frame_level else pooled, n_classes)
        self.tasks = nn.ModuleDict({name: nn.Linear(pooled, size) for name, size in (tasks or {}).items()})

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, vectors: Mapping[str, torch.Tensor] | None = None
    ) -> ModelOutput:
        sequence, lengths = self.encoder(features, lengths)
        sequence = self.dropout(sequence)
        if self.frame_level:
            return ModelOutput(frame_logits=self.head(sequence), frame_lengths=lengths)
        pooled = self.dropout(self.pooling(sequence, lengths))
        heads = {name: head(pooled) for name, head in self.tasks.items()}
        return ModelOutput(logits=self.head(pooled), heads=heads, embedding=pooled)
