"""Speed perturbation: resampled copies of training utterances, one drawn per utterance each epoch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchaudio.functional as AF


class SpeedPerturbation:
    """Copies of a waveform played `factors` times as fast; pitch and tempo move together.

    Resampling a clip recorded at `sample_rate` as if it had been recorded at `factor * sample_rate`
    makes it `factor` times as fast. The copies are made once, before training, so that features
    computed per file (openSMILE functionals) can be computed, and cached, for each copy too.
    """

    def __init__(self, factors: Sequence[float] = (0.9, 1.1)) -> None:
        factors = [float(f) for f in factors]
        if not factors:
            raise ValueError("data.perturb.factors is empty: list at least one speed factor, e.g. [0.9, 1.1]")
        bad = [f for f in factors if not 0.5 <= f <= 2.0 or f == 1.0]
        if bad:
            raise ValueError(f"data.perturb.factors must lie in [0.5, 2] and differ from 1 (the original), got {bad}")
        if len(set(factors)) != len(factors):
            raise ValueError(f"data.perturb.factors lists a factor twice: {factors}")
        self.factors = factors

    def __call__(self, waveform: torch.Tensor, sample_rate: int) -> list[torch.Tensor]:
        """One copy of `waveform` per factor, in the order of `factors`."""
        return [AF.resample(waveform, round(sample_rate * f), sample_rate) for f in self.factors]
