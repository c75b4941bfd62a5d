"""Stacked bidirectional LSTM over feature frames."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from serlab.models.classifier import Classifier
from serlab.models.pooling import MeanPooling
from serlab.models.rnn import RecurrentEncoder
from serlab.models.sequence import FramesFirst


class BLSTM(Classifier):
    """A packed (bi)LSTM stack, length-aware pooling (mean, or `pooling(channels)`), a linear head."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden: int = 128,
        layers: int = 2,
        bidirectional: bool = True,
        frame_level: bool = False,
        pooling: Callable[[int], nn.Module] | None = None,
    ) -> None:
        encoder = FramesFirst(RecurrentEncoder(n_features, hidden, layers, bidirectional, "lstm"))
        pooled = pooling(encoder.out_features) if pooling else MeanPooling()
        super().__init__(encoder, pooled, n_classes, frame_level)
