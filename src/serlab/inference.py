"""A trained run as one module: waveforms at the run's sample rate in, class probabilities out."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from serlab.data.audio import AudioSettings
from serlab.training.build import build_module
from serlab.training.checkpointing import CheckpointError, load_run


def audio_settings(run_cfg: DictConfig) -> AudioSettings:
    """How the run decoded its audio (`data.audio`), so new files are read exactly as its test files were."""
    return instantiate(run_cfg.data.audio) if run_cfg.data.get("audio") else AudioSettings()


class Recognizer(nn.Module):
    """Frontend, model and the loss's read-out of class probabilities, in eval mode.

    `lengths` counts the valid samples of each zero-padded row; without it every row is taken as
    a whole clip (what exported models do).
    """

    def __init__(
        self, frontend: nn.Module, model: nn.Module, loss: nn.Module, classes: list[str], audio: AudioSettings
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model
        self.loss = loss
        self.classes = list(classes)
        self.audio = audio
        self.eval()

    @property
    def sample_rate(self) -> int:
        """The rate the model expects its waveforms at."""
        return self.audio.sample_rate

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long, device=waveforms.device)
        features, frames = self.frontend(waveforms, lengths)
        return self.loss.predict(self.model(features, frames))


def load_recognizer(ckpt_path: Path) -> Recognizer:
    """Rebuild a run from its checkpoint (as serlab-eval does) and keep what inference needs."""
    state, run_cfg, classes = load_run(ckpt_path)
    module = build_module(run_cfg, classes)
    if getattr(module.model, "reads_functionals", False):
        raise CheckpointError(
            f"ckpt_path: {ckpt_path} holds model=fusion, which also reads openSMILE functionals of whole files that "
            "prediction and export do not compute; score it with serlab-eval"
        )
    module.load_state_dict(state["state_dict"])
    return Recognizer(module.frontend, module.model, module.loss, classes, audio_settings(run_cfg))
