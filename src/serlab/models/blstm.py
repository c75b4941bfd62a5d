"""Stacked bidirectional LSTM over feature frames."""

from __future__ import annotations

from collections.abc import Callable

from serlab.models.classifier import Classifier
from serlab.models.pooling import MeanPooling, Pooling
from serlab.models.rnn import RecurrentEncoder
from serlab.models.sequence import FramesFirst


def frame_lstm(n_features: int, hidden: int, layers: int, bidirectional: bool, subsample: int) -> FramesFirst:
    """A packed (bi)LSTM stack over frames, every `subsample` frames stacked into one step."""
    if subsample < 1:
        raise ValueError(f"model.subsample must be >= 1 (frames stacked per LSTM step), got {subsample}")
    return FramesFirst(RecurrentEncoder(n_features * subsample, hidden, layers, bidirectional, "lstm"), subsample)


class BLSTM(Classifier):
    """A packed (bi)LSTM stack, length-aware pooling (`pooling(channels)`, mean by default), a linear head."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden: int = 128,
        layers: int = 2,
        bidirectional: bool = True,
        subsample: int = 1,
        frame_level: bool = False,
        pooling: Callable[[int], Pooling] = MeanPooling,
    ) -> None:
        encoder = frame_lstm(n_features, hidden, layers, bidirectional, subsample)
        super().__init__(encoder, pooling(encoder.out_features), n_classes, frame_level)
