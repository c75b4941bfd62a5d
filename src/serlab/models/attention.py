"""Recurrent encoder with attentive pooling (Mirsamadi, Barsoum and Zhang, ICASSP 2017)."""

from __future__ import annotations

from typing import Any

from serlab.models.blstm import BLSTM
from serlab.models.pooling import AttentivePooling


class AttentionRNN(BLSTM):
    """A BLSTM whose frames are pooled with learned softmax weights, so salient frames count most.

    `attention_hidden=None` scores frames with the paper's single inner product; other keyword
    options are those of BLSTM (hidden, layers, bidirectional).
    """

    def __init__(self, n_features: int, n_classes: int, attention_hidden: int | None = None, **blstm: Any) -> None:
        super().__init__(
            n_features, n_classes, pooling=lambda channels: AttentivePooling(channels, attention_hidden), **blstm
        )
