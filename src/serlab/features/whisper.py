"""Whisper's encoder as a frontend, fed only the real frames of each utterance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torchaudio.functional as AF
from torch import nn

from serlab.errors import UserError
from serlab.features.layers import (
    SAMPLE_RATE,
    PretrainedFrontend,
    checkpoint_activations,
    load_pretrained,
    require_sample_rate,
)
from serlab.features.normalize import feature_norm
from serlab.lengths import ceil_div, length_mask

if TYPE_CHECKING:
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

N_FFT = 400
HOP = 160


class WhisperLogMel(nn.Module):
    """Whisper's log-mel input (batch, mel bins, frames), computed batched on the training device.

    As Whisper's feature extractor: 25 ms Hann frames every 10 ms, centred, with 200 reflected samples
    before the start and zeros after the end (the silence it pads to 30 s with), one frame per 160 samples,
    Slaney mel filters up to 8 kHz, log10, at most 8 decades below the loudest value, scaled by (x + 4) / 4.
    Past its frames each row goes on as the padded 30 s would: the frames that still overlap the utterance's
    tail, then the floor value of silence, at least two frames of them, all the encoder's convolutions read.
    Only the utterance's own samples set any of this, so padding in a batch changes nothing.
    """

    window: torch.Tensor
    filters: torch.Tensor

    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        filters = AF.melscale_fbanks(N_FFT // 2 + 1, 0.0, 8000.0, n_mels, SAMPLE_RATE, "slaney", "slaney")
        self.register_buffer("filters", filters.T.contiguous(), persistent=False)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames per utterance (at least one)."""
        return (lengths // HOP).clamp_min(1).long()

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.frame_lengths(lengths)
        # frames whose window overlaps the utterance, the last ones partly
        heard = ceil_div(lengths + N_FFT // 2, HOP)
        with torch.autocast(waveforms.device.type, enabled=False):
            x = waveforms.float() * length_mask(lengths, waveforms.shape[-1])
            # Zeros after the end make room for every heard frame and two of silence past the longest row's frames,
            # so the width follows from the batch's shape alone (which a traced or exported program keeps dynamic).
            x = nn.functional.pad(x, (0, N_FFT + 2 * HOP))
            x = torch.cat([x[:, 1 : N_FFT // 2 + 1].flip(-1), x], dim=-1)
            spectrum = torch.stft(x, N_FFT, HOP, window=self.window, center=False, return_complex=True)
            power = spectrum.real.square() + spectrum.imag.square()
            log_mel = torch.matmul(self.filters, power).clamp_min(1e-10).log10()
            audible = length_mask(heard, log_mel.shape[-1]).unsqueeze(1)
            floor = log_mel.masked_fill(~audible, -torch.inf).amax(dim=(1, 2), keepdim=True) - 8.0
            log_mel = (torch.where(audible, torch.maximum(log_mel, floor), floor) + 4.0) / 4.0
        return log_mel, frames


class Whisper(PretrainedFrontend):
    """Hidden layers of Whisper's encoder, 50 frames per second: its input embedding and every block's output
    (the last after the final layer norm), mixed by `LayerMix`.

    Whisper was trained on 30 s windows padded with silence. Here each utterance is encoded at its own length:
    the positional table is cut to the frames used and padded frames are masked out of attention, so a padded
    row equals the utterance alone. Attention then never sees the 30 s of silence the model was trained with;
    the first frames of the standard padded encoding agree closely but not exactly (see the tests).
    Utterances longer than 30 s are refused (the positional table ends there).
    """

    encoder: WhisperEncoder

    def __init__(
        self,
        model: str = "openai/whisper-tiny.en",
        layer: int | None = None,
        freeze: str = "all",
        encoder_lr: float | None = None,
        gradient_checkpointing: bool = False,
        warmup_epochs: int = 0,
        normalize: str = "none",
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        from transformers import WhisperModel

        require_sample_rate("whisper", sample_rate)
        encoder = load_pretrained(lambda name: WhisperModel.from_pretrained(name, dtype=torch.float32).encoder, model)
        if gradient_checkpointing:
            checkpoint_activations(encoder)
        blocks = list(encoder.layers)
        dim = encoder.config.d_model
        norm = feature_norm(dim, normalize)
        super().__init__(encoder, blocks, len(blocks) + 1, dim, layer, freeze, encoder_lr, norm, warmup_epochs)
        # Whisper's sinusoidal positions are fixed, also when the rest of the encoder is fine-tuned
        encoder.embed_positions.requires_grad_(False)
        self.log_mel = WhisperLogMel(encoder.config.num_mel_bins)
        self.max_frames = encoder.config.max_source_positions

    def hidden_states(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Rows are padded to the longest, whose frames the shape gives without reading `lengths` (which a traced or
        # exported program cannot branch on).
        longest = (max(waveforms.shape[-1] // HOP, 1) + 1) // 2
        if longest > self.max_frames:
            raise UserError(
                f"frontend=whisper encodes at most {self.max_frames * 2 * HOP / SAMPLE_RATE:.0f} s per utterance, "
                f"got {waveforms.shape[-1] / SAMPLE_RATE:.1f} s: set data.max_duration to 30 or less"
            )
        mel, mel_frames = self.log_mel(waveforms, lengths)
        frames = ceil_div(mel_frames, 2)
        encoder = self.encoder
        x = nn.functional.gelu(encoder.conv1(mel))
        x = nn.functional.gelu(encoder.conv2(x)).transpose(1, 2)[:, :longest]
        x = x + encoder.embed_positions.weight[: x.shape[1]]
        x = nn.functional.dropout(x, p=encoder.dropout, training=encoder.training)
        valid = length_mask(frames, x.shape[1])
        # additive key mask (batch, 1, 1, keys) for the attention of every head and query
        mask = torch.zeros(valid.shape, dtype=x.dtype, device=x.device).masked_fill(~valid, torch.finfo(x.dtype).min)
        states = [x]
        for block in encoder.layers:
            states.append(block(states[-1], mask[:, None, None, :]))
        states[-1] = encoder.layer_norm(states[-1])
        return torch.stack(states), frames
