"""Batches of variable-length utterances: zero-padded waveforms plus their true lengths."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from serlab.data.dataset import Example


@dataclass
class Batch:
    """What the model side receives; `lengths` count valid samples per row."""

    waveforms: torch.Tensor  # (batch, samples), zero-padded
    lengths: torch.Tensor  # (batch,)
    targets: torch.Tensor  # (batch,) class indices
    ids: list[str]
    aux: dict[str, torch.Tensor] = field(default_factory=dict)  # task -> (batch,) auxiliary targets
    speakers: list[str] = field(default_factory=list)
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)  # stream -> (batch, *shape), from data.streams
    # unlabelled target audio trained beside this batch (domain adaptation), its labels withheld
    unlabelled: Batch | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def permuted(self, order: torch.Tensor) -> Batch:
        """The same batch with targets reordered (the partners mixup blends in)."""
        return replace(
            self,
            targets=self.targets[order],
            ids=[self.ids[i] for i in order.tolist()],
            aux={k: v[order] for k, v in self.aux.items()},
        )

    def without_labels(self) -> Batch:
        """The same utterances with their labels withheld: targets -1, no auxiliary targets."""
        return replace(self, targets=torch.full_like(self.targets, -1), aux={})


def pad_collate(examples: list[Example]) -> Batch:
    """Stack examples into one right-padded batch."""
    lengths = torch.tensor([len(e.waveform) for e in examples])
    waveforms = torch.zeros(len(examples), int(lengths.max()))
    for row, example in enumerate(examples):
        waveforms[row, : len(example.waveform)] = example.waveform
    targets = torch.tensor([e.target for e in examples])
    aux = {key: torch.tensor([e.aux[key] for e in examples]) for key in examples[0].aux}
    # a dataset gives every one of its streams to all of its examples
    vectors = {name: torch.stack([e.vectors[name] for e in examples]) for name in examples[0].vectors}
    speakers = [e.speaker for e in examples]
    return Batch(waveforms, lengths, targets, [e.id for e in examples], aux, speakers, vectors)


def unlabelled_collate(examples: list[Example]) -> Batch:
    """`pad_collate` with the labels withheld (`Batch.without_labels`), for the target audio domain adaptation reads."""
    return pad_collate(examples).without_labels()
