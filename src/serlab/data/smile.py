"""openSMILE functionals extractors, in this process or in the pool workers of data/functionals.py."""

from __future__ import annotations

from typing import Any

import numpy as np

from serlab.extras import require


def build_smile(feature_set: str) -> Any:
    """An openSMILE functionals extractor for `feature_set`, e.g. ComParE_2016 or eGeMAPSv02."""
    opensmile = require("opensmile", "data.streams.functionals")
    sets = [name for name in dir(opensmile.FeatureSet) if not name.startswith("_")]
    if feature_set not in sets:
        raise ValueError(f"data.streams.functionals.feature_set must be one of {sets}, got {feature_set!r}")
    return opensmile.Smile(opensmile.FeatureSet[feature_set], opensmile.FeatureLevel.Functionals)


def functionals_of(smile: Any, samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """One float32 vector of functionals for a mono float32 waveform."""
    return smile.process_signal(samples, sample_rate).to_numpy()[0].astype(np.float32)


_worker_smile = None  # each pool process builds its own extractor once, in start_worker


def start_worker(feature_set: str) -> None:
    """Pool initializer: the worker's extractor."""
    global _worker_smile
    _worker_smile = build_smile(feature_set)


def worker_functionals(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """functionals_of with the worker's extractor."""
    return functionals_of(_worker_smile, samples, sample_rate)
