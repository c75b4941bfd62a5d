"""Utterance-level statistics of a frozen pretrained encoder's hidden layers, computed once per utterance and cached."""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from serlab.data.cache import save_npy
from serlab.data.speaker_norm import standardise_per_speaker
from serlab.errors import UserError

log = logging.getLogger(__name__)

# Part of every cache key: a change to the pooling below must get new entries, never reuse old ones.
POOLING = "mean,std(correction=0) over real frames"


class HiddenStates(Protocol):
    """A frozen encoder giving every hidden layer's frames (serlab.data.encoders holds the real ones)."""

    sample_rate: int
    layers: int
    dim: int
    # identifies the weights and every setting that changes the hidden states; part of the cache key
    fingerprint: str

    def hidden_states(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(layers, batch, frames, dim) hidden states of zero-padded (batch, samples) waveforms of `lengths`
        samples, and each waveform's number of real frames (batch,)."""
        ...


class PretrainedEmbeddings:
    """Per utterance, the mean and standard deviation of each hidden layer of `encoder` over its real frames:
    a (layers, 2 * dim) array, means first. The whole utterance is encoded, never a crop.

    Entries are cached under `cache_dir`, named after the waveform's bytes, its sample rate, the
    encoder's fingerprint and the pooling, so every later fold, seed or run only reads them back;
    several processes may fill one cache at once (entries are written whole, then renamed). Utterances
    not yet cached are encoded in batches of similar length holding up to `batch_seconds` of padded audio.
    `per_speaker=True` is the declared speaker-adaptive mode: each speaker's statistics are standardised with
    that speaker's own mean and deviation, test speakers' unlabelled utterances included (transductive).
    """

    def __init__(
        self,
        encoder: HiddenStates,
        cache_dir: str | Path | None = None,
        batch_seconds: float = 60.0,
        per_speaker: bool = False,
    ) -> None:
        if batch_seconds <= 0:
            raise UserError(f"batch_seconds must be > 0 (seconds of audio per encoder batch), got {batch_seconds}")
        self.encoder = encoder
        self.per_speaker = per_speaker
        self.batch_seconds = batch_seconds
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / encoder.fingerprint

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one utterance's statistics: (layers, 2 * dim)."""
        return (self.encoder.layers, 2 * self.encoder.dim)

    @property
    def size(self) -> int:
        """Number of values per utterance."""
        return math.prod(self.shape)

    def __call__(self, waveforms: list[torch.Tensor], sample_rate: int, speakers: list[str]) -> torch.Tensor:
        """(utterances, layers, 2 * dim) statistics (`speakers` matters only per speaker)."""
        if sample_rate != self.encoder.sample_rate:
            raise UserError(
                f"data.audio.sample_rate is {sample_rate} Hz but the encoder reads {self.encoder.sample_rate} Hz "
                f"audio; set data.audio.sample_rate={self.encoder.sample_rate}"
            )
        samples = [wave.numpy().astype(np.float32, copy=False) for wave in waveforms]
        entries = [self._entry(s, sample_rate) for s in samples]
        found = [self._read(entry) for entry in entries]
        missing = [i for i, stats in enumerate(found) if stats is None]
        computed: dict[int, np.ndarray] = {}
        for batch in self._batches([len(samples[i]) for i in missing]):
            positions = [missing[b] for b in batch]
            # saved batch by batch: an interrupted run, or a concurrent one, finds what is done so far
            for i, stats in zip(positions, self.compute([samples[i] for i in positions])):
                computed[i] = stats
                entry = entries[i]
                if entry is not None:
                    save_npy(entry, stats)
        log.info(
            "%s embeddings: %d utterance(s) computed, %d read from the cache",
            self.encoder.fingerprint, len(missing), len(found) - len(missing),
        )  # fmt: skip
        rows = [computed[i] if stats is None else stats for i, stats in enumerate(found)]
        table = torch.from_numpy(np.stack(rows) if rows else np.zeros((0, *self.shape), dtype=np.float32))
        return standardise_per_speaker(table, speakers) if self.per_speaker else table

    def compute(self, samples: list[np.ndarray]) -> list[np.ndarray]:
        """Statistics of each waveform, encoded together in one batch."""
        lengths = torch.tensor([len(s) for s in samples])
        padded = torch.zeros(len(samples), int(lengths.max()))
        for i, s in enumerate(samples):
            padded[i, : len(s)] = torch.from_numpy(s)
        states, frames = self.encoder.hidden_states(padded, lengths)
        return [pooled(states[:, i, :n]).numpy() for i, n in enumerate(frames.tolist())]

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Positions in `lengths`, shortest first, grouped so each group's padded audio stays within batch_seconds
        (a longer utterance goes alone)."""
        budget = self.batch_seconds * self.encoder.sample_rate
        groups: list[list[int]] = []
        for i in sorted(range(len(lengths)), key=lengths.__getitem__):
            # sorted, so the newest member is the longest and sets the group's padded length
            if groups and (len(groups[-1]) + 1) * lengths[i] <= budget:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    def _entry(self, samples: np.ndarray, sample_rate: int) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha1(samples.tobytes())
        key.update(f"|{sample_rate}|{self.encoder.fingerprint}|{POOLING}".encode())
        return self.cache_dir / f"{key.hexdigest()[:24]}.npy"

    def _read(self, entry: Path | None) -> np.ndarray | None:
        if entry is None:
            return None
        try:
            stats = np.load(entry)
        except (OSError, ValueError, EOFError):
            return None  # absent or damaged: computed again and overwritten
        return stats if stats.shape == self.shape and stats.dtype == np.float32 else None


def pooled(states: torch.Tensor) -> torch.Tensor:
    """(layers, 2 * dim) float32 mean and standard deviation over the frames of (layers, frames, dim) states."""
    states = states.float()
    return torch.cat([states.mean(dim=1), states.std(dim=1, correction=0)], dim=1)
