"""Shared layers with one head per task (Zhang, Wu, Schuller et al., ICASSP 2017)."""

from __future__ import annotations

from collections.abc import Mapping

from serlab.models.blstm import frame_lstm
from serlab.models.classifier import Classifier
from serlab.models.pooling import MeanPooling


class MultiTask(Classifier):
    """A shared (bi)LSTM and pooled vector feeding the emotion head and one head per auxiliary task.

    `tasks` maps a task name to its output size: 1 for a regression target such as arousal or
    valence, the number of classes for a categorical one such as gender or corpus.
    """

    frame_scores = False

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        tasks: Mapping[str, int],
        hidden: int = 128,
        layers: int = 2,
        bidirectional: bool = True,
        subsample: int = 1,
    ) -> None:
        encoder = frame_lstm(n_features, hidden, layers, bidirectional, subsample)
        super().__init__(encoder, MeanPooling(), n_classes, tasks=tasks)
