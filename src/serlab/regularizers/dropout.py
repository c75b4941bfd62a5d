"""Dropout at the places each model marks with nn.Dropout, and between recurrent layers."""

from __future__ import annotations

from torch import nn

from serlab.regularizers.protocol import ModelSetting


class Dropout(ModelSetting):
    """Sets the rate of every nn.Dropout in the model and of stacked RNNs' inter-layer dropout."""

    def __init__(self, p: float = 0.3, recurrent_p: float | None = None) -> None:
        for key, value in (("p", p), ("recurrent_p", recurrent_p)):
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"regularizer.dropout.{key} must be in [0, 1), got {value}")
        self.p = p
        self.recurrent_p = p if recurrent_p is None else recurrent_p

    def attach(self, model: nn.Module) -> None:
        """Apply the rates to `model` in place."""
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = self.p
            elif isinstance(module, nn.RNNBase) and module.num_layers > 1:
                module.dropout = self.recurrent_p
