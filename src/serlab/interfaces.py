"""What each kind of part must offer, declared once and checked when a run is built.

A frontend, model, loss or vector stream is any class with these members; the builder checks every
part against its interface and names the members a class lacks, so a new part fails at build time
rather than in the middle of training. The corpus, split, regularizer and adaptation interfaces live beside
their implementations and are re-exported here, so that this module lists them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import torch

from serlab.adaptation.protocol import Adaptation, Corrupting, PseudoLabelling
from serlab.config_check import ConfigError
from serlab.data.corpora.base import Corpus
from serlab.data.splits import SplitProtocol
from serlab.features.normalize import FeatureNorm
from serlab.regularizers.protocol import BatchMixer, FeatureAugment, LossPenalty, ModelSetting, WaveformAugment

if TYPE_CHECKING:
    from serlab.data.collate import Batch
    from serlab.models.output import ModelOutput

__all__ = [
    "Adaptation",
    "BatchMixer",
    "ClassWeighted",
    "Corpus",
    "Corrupting",
    "FeatureAugment",
    "Frontend",
    "Loss",
    "LossPenalty",
    "Model",
    "ModelSetting",
    "PseudoLabelling",
    "SplitProtocol",
    "TunableFrontend",
    "VectorStream",
    "WaveformAugment",
    "check_interface",
]


@runtime_checkable
class Frontend(Protocol):
    """Turns padded waveforms into the frame stream: (batch, out_features, frames) and frames per row."""

    kind: str  # what the frames are ("spectral", "waveform"); models say which kinds they accept
    out_features: int
    norm: FeatureNorm  # its normaliser; global and per-speaker statistics are gathered before fitting

    def raw_features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features before normalisation and their frame counts (what statistics are gathered on)."""
        ...

    def __call__(
        self, waveforms: torch.Tensor, lengths: torch.Tensor, speakers: Sequence[str] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features, zero beyond each row's frames, and the frame counts."""
        ...


@runtime_checkable
class Model(Protocol):
    """Scores utterances from the frame stream and the vector streams it reads."""

    # declared by the class, as the builder pairs it with a frontend and a loss before building it
    accepts: ClassVar[tuple[str, ...]]  # frontend kinds whose frames it understands
    frame_scores: ClassVar[bool]  # whether it can score every frame (for frame-level losses such as CTC)
    reads: tuple[str, ...]  # the utterance-level vector streams it joins (data.streams keys)
    tasks: torch.nn.ModuleDict  # auxiliary heads on the pooled vector, by task name
    # scores the utterance representation (ModelOutput.embedding, head.in_features wide), or each frame
    head: torch.nn.Linear

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """Its trainable weights (every model is an nn.Module)."""
        ...

    def __call__(
        self, features: torch.Tensor, lengths: torch.Tensor, vectors: Mapping[str, torch.Tensor]
    ) -> ModelOutput:
        """Scores of each utterance (or frame); `vectors` holds the standardised streams it reads."""
        ...


@runtime_checkable
class Loss(Protocol):
    """The training objective and the read-out of class probabilities from a model's output."""

    frame_level: bool  # scores frames (CTC) rather than utterances

    def n_outputs(self, n_classes: int) -> int:
        """How many scores the model's head must give."""
        ...

    def predict(self, output: ModelOutput) -> torch.Tensor:
        """(batch, classes) probabilities."""
        ...

    def __call__(self, output: ModelOutput, batch: Batch) -> torch.Tensor:
        """The loss of one batch."""
        ...


@runtime_checkable
class TunableFrontend(Protocol):
    """A frontend with weights of its own to train in groups, e.g. a pretrained encoder at its own learning rate."""

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Optimizer groups of its trainable parameters; a group without `lr` trains at the optimizer's."""
        ...

    def start_epoch(self, epoch: int) -> None:
        """Follow the training schedule: called at the start of every training epoch (counted from 0, resumed
        runs included), before the module's train mode is set again."""
        ...


@runtime_checkable
class ClassWeighted(Protocol):
    """A loss that weighs classes by how often they occur in the training split."""

    def set_class_counts(self, counts: torch.Tensor) -> None:
        """Take the training split's utterance count per class, in class order."""
        ...


@runtime_checkable
class VectorStream(Protocol):
    """An utterance-level input computed on the data side from each whole decoded utterance
    (e.g. openSMILE functionals), once per utterance, and served beside the waveform."""

    shape: tuple[int, ...]  # of one utterance's value
    # standardised within each speaker over all of that speaker's audio (the declared speaker-adaptive mode),
    # so only utterances of speakers seen as a whole can be scored
    per_speaker: bool

    def __call__(self, waveforms: list[torch.Tensor], sample_rate: int, speakers: list[str]) -> torch.Tensor:
        """(utterances, *shape) values of the given waveforms, in order."""
        ...


def _members(interface: type) -> list[str]:
    """The attributes and methods an interface declares (`__call__` included)."""
    declared = [*vars(interface).get("__annotations__", {}), *vars(interface)]
    wanted = [name for name in declared if not name.startswith("_") or name == "__call__"]
    return list(dict.fromkeys(wanted))


def check_interface(part: object, interface: type, key: str) -> None:
    """Refuse `part` (built from config `key`) unless it offers every member of `interface`, naming the missing."""
    if isinstance(part, interface):
        return
    missing = [name for name in _members(interface) if name not in dir(part)]
    raise ConfigError(
        f"{key}: {type(part).__name__} is not a {interface.__name__}: it lacks {', '.join(missing)} "
        f"(see serlab.interfaces.{interface.__name__})"
    )
