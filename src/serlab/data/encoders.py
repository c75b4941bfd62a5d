"""Frozen pretrained speech encoders that give every hidden layer's frames (the `HiddenStates` protocol of
serlab.data.embeddings), for utterance-level embedding streams."""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from serlab.errors import UserError

if TYPE_CHECKING:
    from transformers.models.whisper import modeling_whisper


class WhisperEncoder:
    """Whisper's audio encoder on the real frames of each clip, without Whisper's padding to 30 s.

    Hidden states are the input embeddings and every layer's output, the last after the final layer
    norm (as transformers' `output_hidden_states` gives them). Each clip gets its own log-mel (normalised
    on its own loudest frame, as Whisper does) and only the positional embeddings of its frames; clips in
    a batch are zero-padded and masked so that each one is encoded as if it were alone. Clips longer
    than 30 s, which Whisper has no positions for, are cut into equal windows encoded apart and joined.
    `pad_to_window=True` encodes each clip padded to the 30-s window instead, as Whisper was trained, and
    keeps the clip's own frames: many times slower on short clips, and its statistics classify emotions
    better (see docs/results.md).
    """

    sample_rate = 16000

    def __init__(self, path: str = "openai/whisper-tiny.en", pad_to_window: bool = False) -> None:
        from transformers import WhisperFeatureExtractor, WhisperModel

        try:
            self.mel = WhisperFeatureExtractor.from_pretrained(path)
            model = WhisperModel.from_pretrained(path, dtype=torch.float32)
        except OSError as error:
            raise UserError(
                f"encoder.path={path!r} is neither a folder holding a Whisper model nor a model in the local "
                f"Hugging Face cache; fetch it once with `hf download {path}` or set encoder.path to a local folder"
            ) from error
        self.pad_to_window = pad_to_window
        self.encoder: modeling_whisper.WhisperEncoder = model.encoder.eval().requires_grad_(False)
        config = model.config
        self.layers = config.encoder_layers + 1
        self.dim = config.d_model
        stride = self.encoder.conv1.stride[0] * self.encoder.conv2.stride[0]
        self.window = config.max_source_positions * stride * self.mel.hop_length
        self.fingerprint = self._fingerprint()

    def _fingerprint(self) -> str:
        """sha1 of the encoder's weights and the log-mel settings: a new checkpoint or setting is a new key."""
        digest = hashlib.sha1(f"{self.mel.to_json_string()}|pad_to_window={self.pad_to_window}".encode())
        for name, tensor in self.encoder.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.contiguous().numpy())
        return f"whisper-{digest.hexdigest()[:16]}"

    @torch.no_grad()
    def hidden_states(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(layers, batch, frames, dim) hidden states of zero-padded (batch, samples) clips of `lengths`
        samples, and each clip's number of real frames (50 per second)."""
        pieces, owners = [], []
        for i, n in enumerate(lengths.tolist()):
            count = max(1, math.ceil(n / self.window))
            size = math.ceil(n / count)
            for start in range(0, count * size, size):
                pieces.append(waveforms[i, start : min(n, start + size)])
                owners.append(i)
        states, frames = self._encode_padded(pieces) if self.pad_to_window else self._encode(pieces)
        joined = [
            torch.cat([states[:, p, : frames[p]] for p, owner in enumerate(owners) if owner == i], dim=1)
            for i in range(len(lengths))
        ]
        counts = torch.tensor([j.shape[1] for j in joined])
        out = states.new_zeros(self.layers, len(joined), int(counts.max()), self.dim)
        for i, j in enumerate(joined):
            out[:, i, : j.shape[1]] = j
        return out, counts

    def _encode(self, pieces: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        """Hidden states of clips of at most 30 s, batched, and their frame counts."""
        # n_fft samples give the shortest clip one frame
        mels = [self._log_mel(nn.functional.pad(p, (0, max(0, self.mel.n_fft - len(p))))) for p in pieces]
        steps = torch.tensor([m.shape[-1] for m in mels])
        x = torch.zeros(len(mels), mels[0].shape[0], int(steps.max()))
        for i, m in enumerate(mels):
            x[i, :, : m.shape[-1]] = m
        enc = self.encoder
        hidden = nn.functional.gelu(enc.conv1(x))
        # conv2 must see zeros past a clip's end, as its own padding gives a clip encoded alone
        hidden = hidden * (torch.arange(x.shape[-1]) < steps[:, None])[:, None]
        hidden = nn.functional.gelu(enc.conv2(hidden)).permute(0, 2, 1)
        frames = (steps - 1) // enc.conv2.stride[0] + 1
        hidden = hidden + enc.embed_positions.weight[: hidden.shape[1]]
        real = torch.arange(hidden.shape[1]) < frames[:, None]
        # additive attention mask: no frame attends to another clip's padding
        mask = torch.zeros(real.shape[0], 1, 1, real.shape[1]).masked_fill(
            ~real[:, None, None], torch.finfo(hidden.dtype).min
        )
        states = [hidden]
        for layer in enc.layers:
            hidden = layer(hidden, mask)
            states.append(hidden)
        states[-1] = enc.layer_norm(hidden)
        return torch.stack(states), frames.tolist()

    def _encode_padded(self, pieces: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        """Hidden states of clips of at most 30 s, each padded to the 30-s window, and their real frame counts."""
        mel = self.mel([p.numpy() for p in pieces], sampling_rate=self.sample_rate, return_tensors="pt")
        states = torch.stack(self.encoder(mel.input_features, output_hidden_states=True).hidden_states)
        steps = [max(len(p), self.mel.n_fft) // self.mel.hop_length for p in pieces]
        return states, [(n - 1) // self.encoder.conv2.stride[0] + 1 for n in steps]

    def _log_mel(self, samples: torch.Tensor) -> torch.Tensor:
        """Whisper's (80, steps) log-mel of one unpadded clip."""
        features = self.mel(
            samples.numpy(), sampling_rate=self.sample_rate, padding="do_not_pad", return_tensors="pt"
        ).input_features
        return features[0]
