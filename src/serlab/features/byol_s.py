"""BYOL-S: the AudioNTT2020 convolutional encoder, self-supervised on speech, as a frontend (512-d, 80 ms frames)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchaudio.functional as AF
from torch import nn

from serlab.errors import UserError
from serlab.features.layers import SAMPLE_RATE, PretrainedFrontend, require_sample_rate
from serlab.features.normalize import feature_norm
from serlab.lengths import ceil_div, length_mask

N_FFT = 1024
WIN = 400
HOP = 160
N_MELS = 64


class ByolLogMel(nn.Module):
    """BYOL-S's input: log power mel spectrogram, 64 bands of 60-7800 Hz, 25 ms windows every 10 ms, FFT 1024.

    Unlike its authors' centred frames, each frame holds only the utterance's own samples (frame t covers
    samples 160 t to 160 t + 400), so padding never changes a value; frames are shifted by 12.5 ms and the
    half-frames at the edges are left out.
    """

    window: torch.Tensor
    filters: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(WIN), persistent=False)
        filters = AF.melscale_fbanks(N_FFT // 2 + 1, 60.0, 7800.0, N_MELS, SAMPLE_RATE)
        self.register_buffer("filters", filters.T.contiguous(), persistent=False)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Whole frames per utterance (at least one)."""
        return ((lengths - WIN).clamp_min(0) // HOP + 1).long()

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.frame_lengths(lengths)
        with torch.autocast(waveforms.device.type, enabled=False):
            x = waveforms.float() * length_mask(lengths, waveforms.shape[-1])
            # the 400-sample window sits in the middle of each 1024-sample FFT frame
            side = (N_FFT - WIN) // 2
            x = nn.functional.pad(x, (side, side + max(0, WIN - x.shape[-1])))
            spectrum = torch.stft(x, N_FFT, HOP, WIN, self.window, center=False, return_complex=True)
            power = spectrum.real.square() + spectrum.imag.square()
            log_mel = (torch.matmul(self.filters, power) + torch.finfo(torch.float32).eps).log()
        return log_mel, frames


class AudioNTT2020(nn.Module):
    """The encoder, its modules named as in the published state dict: three blocks of 3x3 convolution (64
    channels), batch norm, ReLU and 2x2 max-pooling over (mel bands, frames), then per frame the 64 channels
    x 8 bands through `fc` (512 -> 512 -> 512).

    Length-aware: values past an utterance's end are zeroed before every pooling, so they read as the zero
    padding an utterance alone gets, and pooling keeps a trailing partial pair (one output per 8 input
    frames, the last group possibly partial). In eval mode a padded row equals the same utterance alone.
    """

    def __init__(self, channels: int = 64, dim: int = 512, dropout: float = 0.3) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for inputs in (1, channels, channels):
            blocks += [
                nn.Conv2d(inputs, channels, 3, padding=1),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
        self.features = nn.Sequential(*blocks)
        self.fc = nn.Sequential(
            nn.Linear(channels * N_MELS // 8, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim), nn.ReLU()
        )

    @property
    def conv_blocks(self) -> list[nn.Sequential]:
        """The three blocks of convolution, batch norm, ReLU and pooling."""
        return [self.features[i : i + 4] for i in range(0, len(self.features), 4)]

    @property
    def blocks(self) -> list[nn.Module]:
        """The three convolution blocks and `fc`, bottom to top."""
        return [*self.conv_blocks, self.fc]

    def forward(self, log_mel: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, 64 bands, frames) standardised log-mel -> (2, batch, frames / 8, 512): the convolution
        blocks' output (bands x channels per frame) and the `fc` output; and the output frame counts."""
        x = (log_mel * length_mask(frames, log_mel.shape[-1]).unsqueeze(1)).unsqueeze(1)
        for block in self.conv_blocks:
            x = block[:3](x)
            # after the ReLU values are >= 0, so zeros past the end never win the pooling's maximum
            x = block[3](x * length_mask(frames, x.shape[-1])[:, None, None, :])
            frames = ceil_div(frames, 2)
        conv_out = x.permute(0, 3, 2, 1).flatten(2)
        return torch.stack([conv_out, self.fc(conv_out)]), frames


class ByolS(PretrainedFrontend):
    """BYOL-S (AudioNTT2020 trained with BYOL for audio on AudioSet speech; Scheidwasser-Clow et al., SERAB,
    ICASSP 2022) on the training device: 512-d frames every 80 ms.

    Its two layers are the convolution blocks' output and the `fc` output (`layer: -1`, as its authors use).
    Its input is standardised with one mean and standard deviation of all log-mel values: `normalize: global`
    gathers them on the training set, as the encoder was used; `utterance` and `speaker` standardise per
    utterance or per speaker. Trainable batch norm (`freeze` top:4 or none) uses the batch's statistics, so in
    training mode padding reaches the features; in eval mode it does not.
    """

    def __init__(
        self,
        weights: str,
        layer: int | None = -1,
        freeze: str = "all",
        encoder_lr: float | None = None,
        warmup_epochs: int = 0,
        normalize: str = "global",
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        require_sample_rate("byol_s", sample_rate)
        path = Path(weights)
        if not path.is_file():
            raise UserError(f"frontend.weights: {path} is not a file; pass the BYOL-S state dict (.pth)")
        encoder = AudioNTT2020()
        encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        # one statistic over all bands and frames (see raw_features)
        norm = feature_norm(1, normalize)
        super().__init__(encoder, encoder.blocks, 2, 512, layer, freeze, encoder_lr, norm, warmup_epochs)
        self.log_mel = ByolLogMel()

    def hidden_states(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layers of standardised log-mel `inputs` (batch, 64, frames) with `lengths` frames."""
        return self.encoder(inputs, lengths)

    def raw_features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The log-mel values as one feature (batch, 1, frames x 64), frame after frame, and their counts:
        what the input standardisation's statistics are gathered on."""
        log_mel, frames = self.log_mel(waveforms, lengths)
        return log_mel.transpose(1, 2).flatten(1).unsqueeze(1), frames * N_MELS

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor, speakers: Sequence[str] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        values, counts = self.raw_features(waveforms, lengths)
        standardised = self.norm(values, counts, speakers).view(values.shape[0], -1, N_MELS).transpose(1, 2)
        return self.mixed(standardised, counts // N_MELS)
