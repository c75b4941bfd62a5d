"""What a domain-adaptation method receives in each training step, and the interfaces it offers.

A run with an adaptation trains on two batches per step: labelled ones of the training speakers (the
source) and unlabelled ones of the test speakers (the target, e.g. another corpus), whose labels are
withheld by the data side. The method adds a loss term computed from both sides' `Domain`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from serlab.lengths import masked_mean


@dataclass
class Domain:
    """One side of a training step, as the model saw it."""

    embedding: torch.Tensor  # (batch, d): the utterance representation the classifier head scores
    logits: torch.Tensor  # (batch, classes)
    inputs: torch.Tensor  # (batch, n): the model's standardised utterance-level input (see `input_summary`)
    ids: list[str]


@runtime_checkable
class Adaptation(Protocol):
    """A loss term that brings the target domain's representations to the source's; it never sees target labels."""

    def __call__(self, source: Domain, target: Domain, progress: float) -> torch.Tensor:
        """The term for one step; `progress` runs from 0 to 1 over the whole fit."""
        ...


@runtime_checkable
class Corrupting(Protocol):
    """An adaptation that trains on corrupted inputs (a denoising autoencoder): both sides' vector streams pass
    through `corrupt` before the model sees them in training."""

    def corrupt(self, vectors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The vector streams with noise added."""
        ...


@runtime_checkable
class PseudoLabelling(Protocol):
    """An adaptation that labels target utterances with the model's own confident predictions (self-training)."""

    def relabels_at(self, epoch: int) -> bool:
        """Whether a labelling round starts at this training epoch."""
        ...

    def relabel(self, ids: Sequence[str], probs: torch.Tensor) -> None:
        """Take the current model's (utterances, classes) probabilities of every target utterance."""
        ...


def input_summary(
    features: torch.Tensor, frames: torch.Tensor, vectors: Mapping[str, torch.Tensor], reads: Sequence[str]
) -> torch.Tensor:
    """One vector per utterance of what the model reads: the vector streams it joins, flattened side by side, or
    for a model of frames alone the mean of its frame features."""
    if reads:
        return torch.cat([vectors[name].flatten(1) for name in reads], dim=-1)
    return masked_mean(features, frames)


def input_summary_size(n_features: int, shapes: Mapping[str, Sequence[int]], reads: Sequence[str]) -> int:
    """The width of `input_summary` for a model reading the streams `reads` or, with none, `n_features` frames."""
    return sum(math.prod(shapes[name]) for name in reads) if reads else n_features
