"""Frozen pretrained speech encoders that give every hidden layer's frames (the `HiddenStates` protocol of
serlab.data.embeddings), for utterance-level embedding streams."""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

import torch

from serlab.errors import UserError
from serlab.features.whisper import Whisper

if TYPE_CHECKING:
    from transformers.models.whisper import modeling_whisper


class WhisperEncoder:
    """Whisper's audio encoder on the real frames of each clip, without Whisper's padding to 30 s.

    Hidden states are the input embeddings and every layer's output, the last after the final layer
    norm (as transformers' `output_hidden_states` gives them), encoded as frontend=whisper encodes them:
    each clip with its own log-mel and only the positional embeddings of its frames, masked in a batch
    so that each one is encoded as if it were alone. Clips longer
    than 30 s, which Whisper has no positions for, are cut into equal windows encoded apart and joined.
    `pad_to_window=True` encodes each clip padded to the 30-s window instead, as Whisper was trained, and
    keeps the clip's own frames: many times slower on short clips, and its statistics classify emotions
    better (see docs/results.md).
    """

    sample_rate = 16000

    def __init__(self, path: str = "openai/whisper-tiny.en", pad_to_window: bool = False) -> None:
        from transformers import WhisperFeatureExtractor

        try:
            self.mel = WhisperFeatureExtractor.from_pretrained(path)
        except OSError as error:
            raise UserError(
                f"encoder.path={path!r} is neither a folder holding a Whisper model nor a model in the local "
                f"Hugging Face cache; fetch it once with `hf download {path}` or set encoder.path to a local folder"
            ) from error
        self.pad_to_window = pad_to_window
        # the frontend=whisper encoder, frozen: its real-frame encoding is the one both share
        self.frontend = Whisper(path).eval()
        self.encoder: modeling_whisper.WhisperEncoder = self.frontend.encoder
        config = self.encoder.config
        self.layers = config.encoder_layers + 1
        self.dim = config.d_model
        stride = self.encoder.conv1.stride[0] * self.encoder.conv2.stride[0]
        self.window = config.max_source_positions * stride * self.mel.hop_length
        self.fingerprint = self._fingerprint()

    def _fingerprint(self) -> str:
        """sha1 of the encoder's weights and the log-mel settings: a new checkpoint or setting is a new key."""
        # the real-frame encoding is frontend=whisper's: entries of an earlier encoding must not be read back
        encoding = "padded to the window" if self.pad_to_window else "real frames, frontend=whisper"
        digest = hashlib.sha1(f"{self.mel.to_json_string()}|{encoding}".encode())
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
        """Hidden states of clips of at most 30 s, batched on their real frames, and their frame counts."""
        lengths = torch.tensor([len(p) for p in pieces])
        batch = torch.zeros(len(pieces), int(lengths.max()))
        for i, piece in enumerate(pieces):
            batch[i, : len(piece)] = piece
        states, frames = self.frontend.hidden_states(batch, lengths)
        return states, frames.tolist()

    def _encode_padded(self, pieces: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        """Hidden states of clips of at most 30 s, each padded to the 30-s window, and their real frame counts."""
        mel = self.mel([p.numpy() for p in pieces], sampling_rate=self.sample_rate, return_tensors="pt")
        states = torch.stack(self.encoder(mel.input_features, output_hidden_states=True).hidden_states)
        steps = [max(len(p), self.mel.n_fft) // self.mel.hop_length for p in pieces]
        return states, [(n - 1) // self.encoder.conv2.stride[0] + 1 for n in steps]
