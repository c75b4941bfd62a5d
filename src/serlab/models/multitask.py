"""Shared layers with one head per task (Zhang, Wu, Schuller et al., ICASSP 2017)."""

from __future__ import annotations

from collections.abc import Mapping

from serlab.models.classifier import Classifier
from serlab.models.pooling import MeanPooling
from serlab.models.rnn import RecurrentEncoder
from serlab.models.sequence import FramesFirst


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
    ) -> None:
        encoder = FramesFirst(RecurrentEncoder(n_features, hidden, layers, bidirectional, "lstm"))
        super().__init__(encoder, MeanPooling(), n_classes, tasks=tasks)
