"""BYOL for audio (BYOL-A; Niizumi et al., IJCNN 2021) training serlab's AudioNTT2020 encoder on unlabelled audio.

Two augmented views of each standardised log-mel segment go through an online network (encoder, pooling,
projector, predictor) and a target network (encoder, pooling, projector); the online prediction of each view
regresses the target's projection of the other, and the target follows the online weights as their
exponential moving average. Only the online network gets gradients.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from serlab.errors import UserError
from serlab.features.byol_s import AudioNTT2020
from serlab.pretraining.augment import Views


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the squared distance of the unit vectors: 2 - 2 cos(prediction, target)."""
    return (2 - 2 * F.cosine_similarity(prediction, target, dim=-1)).mean()


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- tau * target + (1 - tau) * online, parameter by parameter. Buffers (batch norm statistics) are
    left to the target's own forward passes, as BYOL's are."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.lerp_(o, 1 - tau)


def cosine_tau(tau: float, tau_end: float, step: int, total: int) -> float:
    """BYOL's schedule: tau at step 0 rising along a half cosine to tau_end at step `total`."""
    progress = min(step, total) / max(total, 1)
    return tau_end - (tau_end - tau) * (math.cos(math.pi * progress) + 1) / 2


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """BYOL's projector and predictor: linear, batch norm, ReLU, linear."""
    return nn.Sequential(nn.Linear(inputs, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def load_encoder(init: str | None) -> AudioNTT2020:
    """An AudioNTT2020, randomly initialised or holding the state dict at `init` (e.g. BYOL-S's), loaded strictly."""
    encoder = AudioNTT2020()
    if init is not None:
        path = Path(init).expanduser()
        if not path.is_file():
            raise UserError(f"pretrain.init: {path} is not a file; pass a BYOL-S state dict (.pth) or null")
        encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return encoder


class Branch(nn.Module):
    """Encoder, then its frames pooled to one vector (mean + max over time, as BYOL-A), then the projector."""

    def __init__(self, encoder: AudioNTT2020, projector: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector

    def embed(self, segments: torch.Tensor) -> torch.Tensor:
        """(batch, bands, frames) segments -> (batch, 512) pooled embeddings."""
        frames = torch.full((len(segments),), segments.shape[-1], device=segments.device)
        hidden, _ = self.encoder(segments, frames)
        return hidden[-1].mean(1) + hidden[-1].amax(1)

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        return self.projector(self.embed(segments))


class BYOLA(L.LightningModule):
    """The online and target networks, the views, the symmetrised loss and the target's EMA update.

    `tau` is the target's decay; with `tau_end` set it rises from `tau` to `tau_end` along a half cosine
    over the run's steps (BYOL uses 0.99 -> 1.0), otherwise it stays constant.
    """

    def __init__(
        self,
        encoder: AudioNTT2020,
        views: Views,
        dim: int = 512,
        hidden: int = 4096,
        projection: int = 256,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        tau: float = 0.99,
        tau_end: float | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("tau", tau), ("tau_end", tau if tau_end is None else tau_end)):
            if not 0 <= value <= 1:
                raise ValueError(f"byol.{name} must lie in [0, 1], got {value}")
        self.online = Branch(encoder, mlp(dim, hidden, projection))
        self.predictor = mlp(projection, hidden, projection)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.views = views
        self.lr = lr
        self.weight_decay = weight_decay
        self.tau = tau
        self.tau_end = tau_end

    @property
    def encoder(self) -> AudioNTT2020:
        """The online encoder: what pretraining delivers."""
        return self.online.encoder

    def current_tau(self) -> float:
        """The target's decay at this step."""
        if self.tau_end is None:
            return self.tau
        return cosine_tau(self.tau, self.tau_end, self.global_step, int(self.trainer.estimated_stepping_batches))

    def loss(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """The online prediction of each view against the target's projection of the other, summed."""
        with torch.no_grad():
            targets = self.target(first), self.target(second)
        return byol_loss(self.predictor(self.online(first)), targets[1]) + byol_loss(
            self.predictor(self.online(second)), targets[0]
        )

    def training_step(self, segments: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self.loss(*self.views.pair(segments))
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(segments))
        self.log("train/tau", self.current_tau(), on_step=False, on_epoch=True, batch_size=len(segments))
        return loss

    def on_train_batch_end(self, outputs: object, batch: torch.Tensor, batch_idx: int) -> None:
        ema_update(self.target, self.online, self.current_tau())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [*self.online.parameters(), *self.predictor.parameters()]
        return torch.optim.AdamW(trainable, lr=self.lr, weight_decay=self.weight_decay)
