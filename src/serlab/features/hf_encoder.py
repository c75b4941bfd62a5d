"""Self-supervised speech encoders of the wav2vec 2.0 family (wav2vec 2.0, HuBERT, WavLM, data2vec-audio) as a
frontend, through Hugging Face `transformers`."""

from __future__ import annotations

from typing import Any

import torch

from serlab.features.layers import (
    SAMPLE_RATE,
    PretrainedFrontend,
    checkpoint_activations,
    load_pretrained,
    require_sample_rate,
)
from serlab.features.normalize import feature_norm
from serlab.lengths import PaddingAware, length_mask, masked_mean


def standardize(waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each waveform at zero mean and unit variance over its own samples (the models' feature extractors'
    `do_normalize`), zero past its end."""
    mask = length_mask(lengths, waveforms.shape[-1])
    mean = masked_mean(waveforms, lengths).unsqueeze(-1)
    var = masked_mean((waveforms - mean).square() * mask, lengths).unsqueeze(-1)
    return (waveforms - mean) / (var + 1e-7).sqrt() * mask


class HFEncoder(PretrainedFrontend, PaddingAware):
    """All hidden layers of a wav2vec 2.0-style encoder (`model`: a Hugging Face name or local folder), mixed
    by `LayerMix`; one frame per 20 ms for the usual convolution strides (frame counts come from the model's
    own kernel and stride list).

    Encoders whose convolutions use layer norm (`feat_extract_norm: layer`: wav2vec 2.0 large, HuBERT large,
    WavLM large) encode a padded batch with an attention mask: padded frames are zeroed and masked, so a padded
    row equals the utterance alone. Group-norm encoders (wav2vec 2.0 base, HuBERT base, WavLM base) are given
    no mask: their first convolution normalises every channel over the whole input, padding included, which a
    mask cannot undo, and they were not trained with one. data2vec-audio stacks positional convolutions that
    carry padding into the last valid frames. Those encode each utterance alone, at its own length: one
    encoder call per utterance, slower, but padding changes nothing; a batch known to hold no padding
    (`whole_sequences`, as exported programs take) is encoded in one call.
    """

    # a transformers model of the wav2vec 2.0 family; their classes share no base that declares these methods
    encoder: Any

    def __init__(
        self,
        model: str = "microsoft/wavlm-base-plus",
        layer: int | None = None,
        freeze: str = "all",
        encoder_lr: float | None = None,
        gradient_checkpointing: bool = False,
        waveform_norm: bool = True,
        warmup_epochs: int = 0,
        normalize: str = "none",
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        from transformers import AutoModel

        require_sample_rate("hf_encoder", sample_rate)
        encoder = load_pretrained(lambda name: AutoModel.from_pretrained(name, dtype=torch.float32), model)
        config = encoder.config
        # layer drop skips blocks at random in training, and every step must give every layer to mix
        config.layerdrop = 0.0
        if gradient_checkpointing:
            checkpoint_activations(encoder)
        blocks = list(encoder.encoder.layers)
        dim = config.hidden_size
        norm = feature_norm(dim, normalize)
        super().__init__(encoder, blocks, len(blocks) + 1, dim, layer, freeze, encoder_lr, norm, warmup_epochs)
        # data2vec-audio's config has no feat_extract_norm (see the class docstring)
        self.masked = config.to_dict().get("feat_extract_norm") == "layer"
        self.waveform_norm = waveform_norm
        # the samples one frame sees: shorter utterances are padded with silence up to one frame
        self.min_samples = 1
        for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride))):
            self.min_samples = (self.min_samples - 1) * stride + kernel

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames per utterance after the model's convolutions."""
        return self.encoder._get_feat_extract_output_lengths(lengths).long()

    def hidden_states(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = length_mask(lengths, inputs.shape[-1])
        waveforms = standardize(inputs.float(), lengths) if self.waveform_norm else inputs.float() * mask
        waveforms = torch.nn.functional.pad(waveforms, (0, max(0, self.min_samples - waveforms.shape[-1])))
        lengths = lengths.clamp_min(self.min_samples)
        frames = self.frame_lengths(lengths)
        if self.masked:
            attention = length_mask(lengths, waveforms.shape[-1]).long()
            out = self.encoder(waveforms, attention_mask=attention, output_hidden_states=True)
            return torch.stack(out.hidden_states), frames
        if self.whole_sequences:
            return torch.stack(self.encoder(waveforms, output_hidden_states=True).hidden_states), frames
        rows = [
            torch.stack(self.encoder(row[None, :n], output_hidden_states=True).hidden_states)
            for row, n in zip(waveforms, lengths.tolist())
        ]
        width = int(frames.max())
        return torch.cat([torch.nn.functional.pad(row, (0, 0, 0, width - row.shape[2])) for row in rows], 1), frames
