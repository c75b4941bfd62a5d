"""Shared layers with one head per task or corpus (Zhang, Wu, Schuller et al., ICASSP 2017)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from serlab.data.targets import corpus_head
from serlab.models.blstm import frame_lstm
from serlab.models.classifier import Classifier
from serlab.models.pooling import MeanPooling, Pooling


class MultiTask(Classifier):
    """A shared (bi)LSTM and pooled vector feeding the emotion head and one head per auxiliary task.

    `tasks` maps a task name to its output size: 1 for a regression target such as arousal or
    valence, the number of classes for a categorical one such as gender or corpus.
    `corpus_heads` adds one emotion head per named corpus (`emotion_<corpus>`), trained only on
    that corpus's utterances, so corpora with different label sets share the layers below.
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
        corpus_heads: Sequence[str] = (),
        pooling: Callable[[int], Pooling] = MeanPooling,
    ) -> None:
        encoder = frame_lstm(n_features, hidden, layers, bidirectional, subsample)
        heads = {**tasks, **{corpus_head(c): n_classes for c in corpus_heads}}
        super().__init__(encoder, pooling(encoder.out_features), n_classes, tasks=heads)
