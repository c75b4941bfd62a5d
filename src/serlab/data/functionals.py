"""Utterance-level openSMILE functionals (eGeMAPS, ComParE), computed once per utterance and cached."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from serlab.data.cache import save_npy

log = logging.getLogger(__name__)


def _opensmile():
    try:
        import opensmile
    except ImportError as err:
        raise ImportError("data.functionals needs the opensmile package: pip install 'serlab[functionals]'") from err
    return opensmile


class OpenSmileFunctionals:
    """One vector of openSMILE functionals per decoded utterance (the whole file, never a crop).

    Entries are cached under `cache_dir`, named after the waveform's bytes, its sample rate and
    the feature set, so a second run, fold or seed only reads them back. `per_speaker=True` is the
    declared speaker-adaptive mode: each speaker's vectors are standardised with that speaker's own
    mean and deviation, test speakers' unlabelled utterances included (transductive).
    """

    def __init__(
        self, feature_set: str = "ComParE_2016", cache_dir: str | Path | None = None, per_speaker: bool = False
    ) -> None:
        opensmile = _opensmile()
        sets = [name for name in dir(opensmile.FeatureSet) if not name.startswith("_")]
        if feature_set not in sets:
            raise ValueError(f"data.functionals.feature_set must be one of {sets}, got {feature_set!r}")
        self.feature_set = feature_set
        self.per_speaker = per_speaker
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / feature_set
        self.smile = opensmile.Smile(getattr(opensmile.FeatureSet, feature_set), opensmile.FeatureLevel.Functionals)

    @property
    def size(self) -> int:
        """Length of one functionals vector."""
        return len(self.smile.feature_names)

    def __call__(self, waveforms: list[torch.Tensor], sample_rate: int, speakers: list[str]) -> torch.Tensor:
        """(utterances, size) functionals; non-finite values, which openSMILE gives on odd audio, become 0."""
        vectors = np.stack([self._one(wave, sample_rate) for wave in waveforms]) if waveforms else np.zeros((0, self.size))
        bad = ~np.isfinite(vectors)
        if bad.any():
            log.warning("%d non-finite openSMILE values in %d utterance(s) set to 0", bad.sum(), bad.any(axis=1).sum())
        vectors = torch.from_numpy(np.where(bad, 0.0, vectors)).float()
        return standardise_per_speaker(vectors, speakers) if self.per_speaker else vectors

    def _one(self, wave: torch.Tensor, sample_rate: int) -> np.ndarray:
        samples = wave.numpy().astype(np.float32, copy=False)
        entry = None
        if self.cache_dir is not None:
            key = hashlib.sha1(samples.tobytes() + str(sample_rate).encode()).hexdigest()[:24]
            entry = self.cache_dir / f"{key}.npy"
            try:
                return np.load(entry)
            except (OSError, ValueError, EOFError):
                pass  # absent or damaged: computed again and overwritten
        vector = self.smile.process_signal(samples, sample_rate).to_numpy()[0].astype(np.float32)
        if entry is not None:
            save_npy(entry, vector)
        return vector


def standardise_per_speaker(vectors: torch.Tensor, speakers: list[str]) -> torch.Tensor:
    """Each speaker's rows minus that speaker's mean, over that speaker's deviation (1 where constant)."""
    out = torch.empty_like(vectors)
    for speaker in set(speakers):
        rows = torch.tensor([s == speaker for s in speakers])
        own = vectors[rows]
        std = own.std(dim=0, correction=0)
        out[rows] = (own - own.mean(dim=0)) / torch.where(std > 1e-8, std, torch.ones_like(std))
    return out
