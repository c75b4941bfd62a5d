"""The places in training where a regularizer acts, one Protocol each, and a run's regularizers sorted by them.

A regularizer subclasses the Protocol(s) of the places it acts on; the training step calls each place's
hooks in the order the `regularizer` list gives them. Only one regularizer may mix batches, since the
loss is weighed against a single partner order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from serlab.config_check import ConfigError


@runtime_checkable
class ModelSetting(Protocol):
    """Changes the model once, when the module is built (e.g. its dropout rates)."""

    def attach(self, model: nn.Module) -> None:
        """Apply the setting to `model` in place."""
        ...


@runtime_checkable
class WaveformAugment(Protocol):
    """Alters training waveforms before the frontend sees them."""

    def on_waveform(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Altered (batch, samples) waveforms; padding beyond `lengths` stays zero."""
        ...


@runtime_checkable
class FeatureAugment(Protocol):
    """Alters training features between the frontend and the model."""

    def on_features(self, feats: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Altered (batch, features, time) features of `frames` valid frames each."""
        ...


@runtime_checkable
class BatchMixer(Protocol):
    """Blends each utterance with a partner; the loss is weighed between both utterances' targets."""

    def mix(self, feats: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Mixed features, their frame counts, the partner order and lam, the weight of the originals."""
        ...


@runtime_checkable
class LossPenalty(Protocol):
    """A term added to the training loss."""

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """The term for `model`'s current weights."""
        ...


PLACES = (ModelSetting, WaveformAugment, FeatureAugment, BatchMixer, LossPenalty)


@dataclass(frozen=True)
class Regularizers:
    """A run's regularizers, grouped by where in training they act."""

    settings: tuple[ModelSetting, ...] = ()
    waveform: tuple[WaveformAugment, ...] = ()
    features: tuple[FeatureAugment, ...] = ()
    mixer: BatchMixer | None = None
    penalties: tuple[LossPenalty, ...] = ()

    @classmethod
    def sort(cls, chosen: Mapping[str, object]) -> Regularizers:
        """Group `chosen` (name -> regularizer, in list order); refuse an object that acts nowhere and a
        second batch mixer, naming their `regularizer` keys."""
        for name, regularizer in chosen.items():
            if not isinstance(regularizer, PLACES):
                places = ", ".join(p.__name__ for p in PLACES)
                raise ConfigError(
                    f"regularizer.{name}: {type(regularizer).__name__} is not a regularizer; "
                    f"its class must implement one of {places} (serlab.regularizers.protocol)"
                )
        mixers = [name for name, r in chosen.items() if isinstance(r, BatchMixer)]
        if len(mixers) > 1:
            raise ConfigError(
                f"regularizer: {' and '.join(mixers)} both mix batches, and a batch is mixed once; keep one of them"
            )
        picked = list(chosen.values())
        return cls(
            settings=tuple(r for r in picked if isinstance(r, ModelSetting)),
            waveform=tuple(r for r in picked if isinstance(r, WaveformAugment)),
            features=tuple(r for r in picked if isinstance(r, FeatureAugment)),
            mixer=next((r for r in picked if isinstance(r, BatchMixer)), None),
            penalties=tuple(r for r in picked if isinstance(r, LossPenalty)),
        )
