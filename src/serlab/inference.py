"""A trained run as one module: waveforms at the run's sample rate in, class probabilities out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from serlab.data.audio import AudioSettings
from serlab.features.reconstruction import Autoencoder, vector_inputs
from serlab.interfaces import Frontend, Loss, Model, VectorStream
from serlab.training.build import build_module
from serlab.training.checkpointing import CheckpointError, load_run


def audio_settings(run_cfg: DictConfig) -> AudioSettings:
    """How the run decoded its audio (`data.audio`), so new files are read exactly as its test files were."""
    return instantiate(run_cfg.data.audio) if run_cfg.data.get("audio") else AudioSettings()


def vector_streams(run_cfg: DictConfig) -> dict[str, VectorStream]:
    """The vector streams the run's model reads, built as the run built them (`data.streams`)."""
    return {str(name): instantiate(node) for name, node in (run_cfg.data.get("streams") or {}).items()}


class Recognizer(nn.Module):
    """Frontend, model, the run's stream normalisers (and reconstruction autoencoder) and the loss's read-out of
    class probabilities, in eval mode.

    `lengths` counts the valid samples of each zero-padded row; without it every row is taken as
    a whole clip (what exported models do). The model's vector streams are computed from each row's
    valid samples unless given (`vectors`, stream name -> (batch, *shape) values as the stream gives them).
    """

    def __init__(
        self,
        frontend: Frontend,
        model: Model,
        loss: Loss,
        classes: list[str],
        audio: AudioSettings,
        streams: Mapping[str, VectorStream] | None = None,
        vector_norms: nn.ModuleDict | None = None,
        reconstruction: Autoencoder | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model
        self.loss = loss
        self.classes = list(classes)
        self.audio = audio
        self.streams = dict(streams or {})
        self.vector_norms = vector_norms or nn.ModuleDict()
        self.reconstruction = reconstruction
        self.eval()

    @property
    def sample_rate(self) -> int:
        """The rate the model expects its waveforms at."""
        return self.audio.sample_rate

    def compute_vectors(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stream of the model from the valid samples of each row (on the CPU, as the data side does)."""
        rows = [wave[:n].detach().cpu().float() for wave, n in zip(waveforms, lengths.tolist())]
        speakers = [""] * len(rows)  # no stream of a scorable run standardises per speaker
        device = waveforms.device
        return {name: stream(rows, self.sample_rate, speakers).to(device) for name, stream in self.streams.items()}

    def forward(
        self,
        waveforms: torch.Tensor,
        lengths: torch.Tensor | None = None,
        vectors: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long, device=waveforms.device)
        if vectors is None:
            vectors = self.compute_vectors(waveforms, lengths)
        standardized = vector_inputs(vectors, self.vector_norms, self.reconstruction)
        features, frames = self.frontend(waveforms, lengths)
        return self.loss.predict(self.model(features, frames, standardized))

    def novelty(self, vectors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(batch,) how unlike the run's training utterances the clips of these streams (`compute_vectors`) are:
        their mean squared reconstruction error over the median training utterance's; needs an autoencoder."""
        if self.reconstruction is None:
            raise ValueError("this run has no reconstruction autoencoder to score novelty with")
        standardized = {name: self.vector_norms[name](vectors[name]) for name in self.reconstruction.sources}
        return self.reconstruction.novelty(standardized)


def load_recognizer(ckpt_path: Path) -> Recognizer:
    """Rebuild a run from its checkpoint (as serlab-eval does) and keep what inference needs."""
    state, run_cfg, classes = load_run(ckpt_path)
    module = build_module(run_cfg, classes)
    streams = vector_streams(run_cfg)
    adaptive = [name for name, stream in streams.items() if stream.per_speaker]
    if adaptive:
        raise CheckpointError(
            f"ckpt_path: {ckpt_path} standardises data.streams.{adaptive[0]} per speaker over all of that "
            "speaker's audio (the declared speaker-adaptive mode), which single new files cannot be; score it "
            "with serlab-eval"
        )
    if run_cfg.data.get("streams_per_corpus"):
        raise CheckpointError(
            f"ckpt_path: {ckpt_path} standardises its vector streams within each corpus (data.streams_per_corpus), "
            "with statistics single new files do not have; score a corpus with serlab-eval"
        )
    module.load_state_dict(state["state_dict"])
    return Recognizer(
        module.frontend,
        module.model,
        module.loss,
        classes,
        audio_settings(run_cfg),
        streams,
        module.vector_norms,
        module.reconstruction,
    )
