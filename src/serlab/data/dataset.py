"""The dataset of decoded utterances."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from serlab.data.audio import load_audio
from serlab.data.manifest import Utterance


@dataclass(frozen=True)
class Example:
    """One decoded utterance with its class index."""

    id: str
    waveform: torch.Tensor
    target: int


class AudioDataset(Dataset[Example]):
    """Utterances decoded once, up front, to mono float waveforms at `sample_rate`."""

    def __init__(self, rows: list[Utterance], classes: list[str], sample_rate: int) -> None:
        index = {name: i for i, name in enumerate(classes)}
        self.rows = rows
        self.targets = [index[r.label] for r in rows]
        # Decoding once keeps epochs free of I/O; workers forked later share these tensors.
        self.waveforms = [load_audio(r.path, sample_rate) for r in rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Example:
        return Example(self.rows[i].id, self.waveforms[i], self.targets[i])
