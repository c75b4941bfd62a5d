"""Mean/variance normalisation of the input streams: frames per utterance, with training-set statistics or per
speaker; utterance-level vectors with training-set statistics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from serlab.lengths import length_mask, masked_mean

MODES = ("none", "utterance", "global", "speaker")


def _moments(feats: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Per row (batch, 3, features): sum, sum of squares and frame count over valid frames, in float64."""
    mask = length_mask(frames, feats.shape[-1]).unsqueeze(1).to(torch.float64)
    x = feats.to(torch.float64) * mask
    return torch.stack([x.sum(-1), (x * x).sum(-1), mask.sum(-1).expand(-1, x.shape[1])], dim=1)


def _standardize(feats: torch.Tensor, moments: torch.Tensor) -> torch.Tensor:
    """(feats - mean) / std with moments (..., 3, features) broadcast over frames."""
    total, squares, count = moments.unbind(-2)
    mean = total / count
    std = (squares / count - mean**2).clamp_min(1e-10).sqrt()
    return (feats - mean.unsqueeze(-1).to(feats.dtype)) / std.unsqueeze(-1).to(feats.dtype)


class FeatureNorm(nn.Module):
    """Normalises (batch, features, time) over valid frames.

    `utterance` uses each utterance's own statistics; `global` uses statistics gathered over the
    training set by `accumulate` before training (never from validation or test speakers) and
    stored in the checkpoint. `speaker` is SpeakerNorm's mode (see `feature_norm`).
    """

    total: torch.Tensor
    squares: torch.Tensor
    count: torch.Tensor

    def __init__(self, n_features: int, mode: str = "none") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"frontend.normalize must be one of {list(MODES)}, got {mode!r}")
        self.mode = mode
        self.register_buffer("total", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("squares", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @property
    def needs_statistics(self) -> bool:
        """True while global statistics have not been gathered yet."""
        return self.mode == "global" and self.count.item() == 0

    def accumulate(self, feats: torch.Tensor, frames: torch.Tensor, speakers: Sequence[str] = ()) -> None:
        """Add one batch of training features to the running sums."""
        total, squares, count = _moments(feats, frames).sum(0)
        self.total += total
        self.squares += squares
        self.count += count[0]

    def forward(self, feats: torch.Tensor, frames: torch.Tensor, speakers: Sequence[str] = ()) -> torch.Tensor:
        if self.mode == "utterance":
            mask = length_mask(frames, feats.shape[-1]).unsqueeze(1)
            mean = masked_mean(feats, frames).unsqueeze(-1)
            var = masked_mean((feats - mean) ** 2 * mask, frames).unsqueeze(-1)
            return (feats - mean) / (var + 1e-5).sqrt()
        if self.mode == "global":
            # Unchanged until the statistics are gathered; chosen by value, as an exported program cannot branch on
            # a buffer (a count of 1 stands in for none, so the discarded side stays finite).
            count = self.count.clamp_min(1).expand_as(self.total)
            standardized = _standardize(feats, torch.stack([self.total, self.squares, count]))
            return torch.where(self.count > 0, standardized, feats)
        return feats


class SpeakerNorm(FeatureNorm):
    """The declared speaker-adaptive mode: each speaker's features standardised with statistics over
    all of that speaker's utterances, test speakers included (their audio, never their labels).

    Results are transductive; reports flag them. Statistics travel in the checkpoint.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__(n_features, "speaker")
        self.speakers: dict[str, torch.Tensor] = {}  # speaker -> (3, features) moments

    @property
    def needs_statistics(self) -> bool:
        """True while no speaker's statistics have been gathered."""
        return not self.speakers

    def accumulate(self, feats: torch.Tensor, frames: torch.Tensor, speakers: Sequence[str] = ()) -> None:
        """Add one batch of features to the running sums of their speakers."""
        for speaker, row in zip(speakers, _moments(feats, frames).cpu()):
            self.speakers[speaker] = self.speakers.get(speaker, 0) + row

    def forward(self, feats: torch.Tensor, frames: torch.Tensor, speakers: Sequence[str] = ()) -> torch.Tensor:
        unknown = sorted(set(speakers) - set(self.speakers))
        if unknown or not speakers:
            raise ValueError(
                f"frontend.normalize=speaker has no statistics for speaker(s) {unknown or '(none given)'}: "
                "a speaker-adaptive model only scores the speakers it gathered statistics for"
            )
        return _standardize(feats, torch.stack([self.speakers[s] for s in speakers]).to(feats.device))

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        # the number of speakers varies, so their statistics travel as extra state rather than buffers
        return dict(self.speakers)

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        self.speakers = dict(state or {})


class VectorNorm(nn.Module):
    """Standardises one utterance-level vector stream with its training-set mean and standard deviation.

    The statistics are taken from every training value at once (`set_statistics`) and kept in the
    checkpoint; entries constant over the training set keep a deviation of 1.
    """

    mean: torch.Tensor
    std: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(*shape))
        self.register_buffer("std", torch.ones(*shape))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @property
    def needs_statistics(self) -> bool:
        """True until `set_statistics` has been called (also in a checkpoint saved before it)."""
        return not bool(self.fitted)

    @torch.no_grad()
    def set_statistics(self, values: torch.Tensor) -> None:
        """Take the statistics of (n, *shape) training values."""
        std = values.std(dim=0)
        self.mean.copy_(values.mean(dim=0))
        self.std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))
        self.fitted.fill_(True)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std


def feature_norm(n_features: int, mode: str) -> FeatureNorm:
    """The normaliser for `frontend.normalize`."""
    return SpeakerNorm(n_features) if mode == "speaker" else FeatureNorm(n_features, mode)
