"""Quantization-aware training (quantization=qat): the model's convolutions and linear layers train through the
rounding of int8 inference, so that serlab-export's static int8 form (quantize=[static]) loses less.

From `start_epoch` on, every Conv1d/Conv2d/Linear layer of the model (not the frontend) computes with its weight
fake-quantised per output channel (symmetric int8) and its input fake-quantised per tensor (uint8 over a range
observed as a moving average of batch minima and maxima, frozen for the last `frozen_epochs`); gradients pass the
rounding straight through. The weights themselves stay float parameters: checkpoints, loaders and exports see a
plain model, and at the end of fitting the layers compute in float again. Per-channel weight grids survive the
batch-norm folding of export, which rescales each output channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from serlab.config_check import ConfigError
from serlab.training.module import SERModule

QUANTIZED = (nn.Conv1d, nn.Conv2d, nn.Linear)
WEIGHT_LEVELS = 127  # symmetric int8 weights: -127 .. 127
ACTIVATION_LEVELS = 255  # affine uint8 activations: 0 .. 255


def fake_quantize_weight(weight: torch.Tensor) -> torch.Tensor:
    """`weight` rounded to a symmetric int8 grid of its own per output channel (dimension 0)."""
    scale = weight.detach().abs().flatten(1).amax(dim=1).clamp_min(1e-8) / WEIGHT_LEVELS
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -WEIGHT_LEVELS, WEIGHT_LEVELS)


class ActivationRange(nn.Module):
    """Fake-quantises a layer's input to uint8 over a range kept as a moving average of batch minima and maxima
    (the range always holds zero, so zero stays exact)."""

    low: torch.Tensor
    high: torch.Tensor
    seen: torch.Tensor

    def __init__(self, momentum: float) -> None:
        super().__init__()
        self.momentum = momentum
        self.frozen = False
        self.register_buffer("low", torch.tensor(0.0))
        self.register_buffer("high", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))

    def observe(self, x: torch.Tensor) -> None:
        """Move the range towards this batch's (the first batch sets it)."""
        low, high = x.detach().min().clamp_max(0), x.detach().max().clamp_min(0)
        rate = self.momentum if bool(self.seen) else 1.0
        self.low.lerp_(low.to(self.low), rate)
        self.high.lerp_(high.to(self.high), rate)
        self.seen.fill_(True)

    def forward(self, x: torch.Tensor, observe: bool) -> torch.Tensor:
        if observe and not self.frozen:
            self.observe(x)
        scale = ((self.high - self.low) / ACTIVATION_LEVELS).clamp_min(1e-8)
        zero = (-self.low / scale).round().clamp(0, ACTIVATION_LEVELS).to(torch.int32)
        return torch.fake_quantize_per_tensor_affine(x, scale.to(x.device), zero.to(x.device), 0, ACTIVATION_LEVELS)


def quantized_forward(
    layer: nn.Conv1d | nn.Conv2d | nn.Linear, activation: ActivationRange
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`layer`'s computation with its input and weight fake-quantised (the input's range observed in training)."""
    if isinstance(layer, nn.Linear):
        return lambda x: F.linear(activation(x, layer.training), fake_quantize_weight(layer.weight), layer.bias)
    return lambda x: layer._conv_forward(activation(x, layer.training), fake_quantize_weight(layer.weight), layer.bias)


class QuantizationAware(Callback):
    """Fake int8 quantisation of the model's Conv/Linear layers from `start_epoch`, activation ranges frozen for
    the last `frozen_epochs` of `trainer.max_epochs`; removed when fitting ends."""

    def __init__(self, start_epoch: int = 0, frozen_epochs: int = 1, momentum: float = 0.01) -> None:
        if start_epoch < 0:
            raise ConfigError(f"quantization.start_epoch: must be >= 0, got {start_epoch}")
        if frozen_epochs < 0:
            raise ConfigError(f"quantization.frozen_epochs: must be >= 0, got {frozen_epochs}")
        if not 0 < momentum <= 1:
            raise ConfigError(
                f"quantization.momentum: the range's moving-average rate must be in (0, 1], got {momentum}"
            )
        self.start_epoch = start_epoch
        self.frozen_epochs = frozen_epochs
        self.momentum = momentum
        # layer name -> its input's range; kept here, not in the model, so checkpoints hold the plain model
        self.ranges: dict[str, ActivationRange] = {}
        self.layers: list[nn.Module] = []

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epochs = trainer.max_epochs
        if epochs is not None and epochs >= 0 and self.start_epoch >= epochs:
            raise ConfigError(
                f"quantization.start_epoch={self.start_epoch} is not below trainer.max_epochs={epochs}: fake "
                "quantisation would never run; lower it or train longer"
            )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if epoch >= self.start_epoch and not self.layers:
            self.attach(cast(nn.Module, cast(SERModule, pl_module).model), pl_module.device)
        epochs = trainer.max_epochs
        freeze = epochs is not None and epochs >= 0 and epoch >= epochs - self.frozen_epochs
        for observed in self.ranges.values():
            observed.frozen = freeze

    def attach(self, model: nn.Module, device: torch.device) -> None:
        """Make every Conv/Linear layer of `model` compute fake-quantised (ranges restored on resume are kept)."""
        for name, layer in model.named_modules():
            if isinstance(layer, QUANTIZED):
                observed = self.ranges.setdefault(name, ActivationRange(self.momentum)).to(device)
                # an instance attribute shadows the class's forward: parameters and state-dict keys stay as they are
                layer.forward = quantized_forward(layer, observed)  # type: ignore[method-assign,assignment]
                self.layers.append(layer)

    def detach(self) -> None:
        """Back to float computation: the layers' own forward again."""
        for layer in self.layers:
            del layer.forward
        self.layers = []

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.detach()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.detach()

    def state_dict(self) -> dict[str, Any]:
        return {name: observed.state_dict() for name, observed in self.ranges.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for name, values in state_dict.items():
            self.ranges.setdefault(name, ActivationRange(self.momentum)).load_state_dict(values)
