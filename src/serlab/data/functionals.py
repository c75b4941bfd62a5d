"""Utterance-level openSMILE functionals (eGeMAPS, ComParE), computed once per utterance and cached."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from serlab.data.cache import save_npy
from serlab.data.smile import build_smile, functionals_of, start_worker, worker_functionals
from serlab.data.speaker_norm import standardise_per_speaker

log = logging.getLogger(__name__)


def available_cores() -> int:
    """CPU cores this process may run on."""
    # the affinity mask (what a job scheduler grants) is only readable on Linux
    return len(os.sched_getaffinity(0)) if sys.platform == "linux" else os.cpu_count() or 1


class OpenSmileFunctionals:
    """One vector of openSMILE functionals per decoded utterance (the whole file, never a crop).

    Entries are cached under `cache_dir`, named after the waveform's bytes, its sample rate and
    the feature set, so a second run, fold or seed only reads them back. Utterances not in the
    cache are computed by `workers` processes (0: one per available core). `per_speaker=True` is
    the declared speaker-adaptive mode: each speaker's vectors are standardised with that speaker's
    own mean and deviation, test speakers' unlabelled utterances included (transductive).
    """

    def __init__(
        self,
        feature_set: str = "ComParE_2016",
        cache_dir: str | Path | None = None,
        per_speaker: bool = False,
        workers: int = 0,
    ) -> None:
        if workers < 0:
            raise ValueError(f"data.streams.functionals.workers must be >= 0 (0: one per core), got {workers}")
        self.smile = build_smile(feature_set)
        self.feature_set = feature_set
        self.per_speaker = per_speaker
        self.workers = workers or available_cores()
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / feature_set

    @property
    def size(self) -> int:
        """Length of one functionals vector."""
        return len(self.smile.feature_names)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one utterance's value: a vector of `size` functionals."""
        return (self.size,)

    def __call__(self, waveforms: list[torch.Tensor], sample_rate: int, speakers: list[str]) -> torch.Tensor:
        """(utterances, size) functionals; non-finite values, which openSMILE gives on odd audio, become 0."""
        samples = [wave.numpy().astype(np.float32, copy=False) for wave in waveforms]
        entries = [self._entry(s, sample_rate) for s in samples]
        found = [self._read(entry) for entry in entries]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            log.info("openSMILE %s functionals of %d utterance(s)", self.feature_set, len(missing))
        computed = dict(zip(missing, self.compute([samples[i] for i in missing], sample_rate)))
        for i, vector in computed.items():
            entry = entries[i]
            if entry is not None:
                save_npy(entry, vector)
        rows = [computed[i] if vector is None else vector for i, vector in enumerate(found)]
        table = np.stack(rows) if rows else np.zeros((0, self.size), dtype=np.float32)
        bad = ~np.isfinite(table)
        if bad.any():
            log.warning("%d non-finite openSMILE values in %d utterance(s) set to 0", bad.sum(), bad.any(axis=1).sum())
        vectors = torch.from_numpy(np.where(bad, 0.0, table)).float()
        return standardise_per_speaker(vectors, speakers) if self.per_speaker else vectors

    def compute(self, samples: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """Functionals of each waveform, in order, spread over the worker processes when it pays."""
        if self.workers == 1 or len(samples) < 4 * self.workers:
            return [functionals_of(self.smile, s, sample_rate) for s in samples]
        # Workers run openSMILE on numpy arrays and never touch torch, so forking a process that holds
        # torch's thread pools is safe, and it saves the seconds a spawned worker spends importing the program.
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(self.workers, context, initializer=start_worker, initargs=(self.feature_set,)) as pool:
            return list(pool.map(worker_functionals, samples, [sample_rate] * len(samples), chunksize=8))

    def _entry(self, samples: np.ndarray, sample_rate: int) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha1(samples.tobytes() + str(sample_rate).encode()).hexdigest()[:24]
        return self.cache_dir / f"{key}.npy"

    @staticmethod
    def _read(entry: Path | None) -> np.ndarray | None:
        if entry is None:
            return None
        try:
            return np.load(entry)
        except (OSError, ValueError, EOFError):
            return None  # absent or damaged: computed again and overwritten
