"""BYOL-A's augmentations of standardised log-mel segments (Niizumi et al., IJCNN 2021; the fader from BYOL-A v2).

Every module takes and returns a batch of segments (batch, bands, frames) and draws its randomness per
segment, so two calls on the same batch give two different views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_range(name: str, low: float, high: float, least: float = 0.0) -> tuple[float, float]:
    """(low, high) of a config range, refused unless least <= low <= high."""
    if not least <= low <= high:
        raise ValueError(f"pretrain {name} must be [low, high] with {least} <= low <= high, got [{low}, {high}]")
    return float(low), float(high)


class LogMixup(nn.Module):
    """Mixes each segment with a random other one in the linear power domain: log((1 - l) e^x + l e^y), l drawn
    from U(0, ratio). The others are the batch and a memory of the last `memory` segments seen (earlier batches),
    so a segment mostly meets background from other clips."""

    memory_bank: torch.Tensor

    def __init__(self, ratio: float = 0.4, memory: int = 2048) -> None:
        super().__init__()
        if not 0 <= ratio <= 1 or memory < 0:
            raise ValueError(f"pretrain mixup ratio must lie in [0, 1] and memory be >= 0, got {ratio}, {memory}")
        self.ratio = ratio
        self.memory = memory
        # not in checkpoints: a resumed run refills it within a few batches
        self.register_buffer("memory_bank", torch.empty(0), persistent=False)

    def remember(self, segments: torch.Tensor) -> None:
        """Add `segments` to the memory, dropping the oldest beyond `memory`."""
        if self.memory:
            kept = self.memory_bank if len(self.memory_bank) else segments[:0]
            self.memory_bank = torch.cat([kept, segments.detach()])[-self.memory :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = torch.cat([self.memory_bank, x]) if len(self.memory_bank) else x
        others = pool[torch.randint(len(pool), (len(x),), device=x.device)]
        weight = torch.rand(len(x), 1, 1, device=x.device) * self.ratio
        # logaddexp keeps the mix finite where e^x would overflow or vanish
        return torch.logaddexp(x + torch.log1p(-weight), others + weight.clamp_min(1e-12).log())


class RandomResizeCrop(nn.Module):
    """Places the segment in a zero-padded virtual canvas `virtual` times its size (bands, frames), crops a
    region `scale` times its size per axis at a random place, and resizes it back (bicubic): pitch and tempo
    shifts, stretches and partial cut-outs in one."""

    def __init__(
        self, virtual: tuple[float, float] = (1.0, 1.5), freq_scale: tuple[float, float] = (0.6, 1.5),
        time_scale: tuple[float, float] = (0.6, 1.5),
    ) -> None:  # fmt: skip
        super().__init__()
        self.virtual = check_range("crop virtual scale", *virtual, least=1.0)
        self.scales = (check_range("crop freq_scale", *freq_scale), check_range("crop time_scale", *time_scale))

    def crop_box(self, size: tuple[int, int], canvas: tuple[int, int]) -> list[tuple[int, int]]:
        """(start, length) per axis of one random crop inside `canvas`."""
        box = []
        for n, room, (low, high) in zip(size, canvas, self.scales):
            length = min(room, max(1, round(n * float(torch.empty(()).uniform_(low, high)))))
            box.append((int(torch.randint(room - length + 1, ())), length))
        return box

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bands, frames = x.shape[-2:]
        canvas = (round(bands * self.virtual[0]), round(frames * self.virtual[1]))
        top, left = (canvas[0] - bands) // 2, (canvas[1] - frames) // 2
        padded = F.pad(x, (left, canvas[1] - frames - left, top, canvas[0] - bands - top))
        crops = []
        for segment in padded:
            (f0, fn), (t0, tn) = self.crop_box((bands, frames), canvas)
            region = segment[None, None, f0 : f0 + fn, t0 : t0 + tn]
            crops.append(F.interpolate(region, size=(bands, frames), mode="bicubic", align_corners=True)[0, 0])
        return torch.stack(crops)


class RandomLinearFader(nn.Module):
    """Adds a gain that changes linearly over the segment, from a random start to a random end in [-gain, gain]
    (log-mel units): a fade in or out."""

    def __init__(self, gain: float = 1.0) -> None:
        super().__init__()
        if gain < 0:
            raise ValueError(f"pretrain fader gain must be >= 0, got {gain}")
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ends = (torch.rand(len(x), 2, 1, device=x.device) * 2 - 1) * self.gain
        ramp = torch.linspace(0, 1, x.shape[-1], device=x.device)
        return x + (ends[:, :1] + (ends[:, 1:] - ends[:, :1]) * ramp)


class Views(nn.Module):
    """One augmented view of a batch: mixup, random resize crop, linear fader, then the batch standardised
    again (BYOL-A's post-normalisation), as the augmentations shift the values' scale."""

    def __init__(
        self, mixup: LogMixup, crop: RandomResizeCrop, fader: RandomLinearFader, post_norm: bool = True
    ) -> None:
        super().__init__()
        self.mixup = mixup
        self.crop = crop
        self.fader = fader
        self.post_norm = post_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = self.fader(self.crop(self.mixup(x)))
        if self.post_norm:
            view = (view - view.mean()) / view.std().clamp_min(1e-5)
        return view

    def pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent views of `x`; then `x` joins mixup's memory."""
        views = self(x), self(x)
        self.mixup.remember(x)
        return views
