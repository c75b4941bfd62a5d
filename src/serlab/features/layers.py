"""What the pretrained encoder frontends share: one stream from their hidden layers, and how much of them trains.

An encoder gives a stack of hidden layers (the input embedding and each block's output). `LayerMix` turns
them into the frontend's features: a learnt softmax-weighted sum of all layers (as the SUPERB benchmark
does), or one chosen layer. `frontend.freeze` says which encoder parameters train,
`PretrainedFrontend.parameter_groups` gives them their own learning rate (`frontend.encoder_lr`), and
`frontend.warmup_epochs` holds them frozen for the first epochs, while the layers above settle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from serlab.errors import UserError
from serlab.features.normalize import FeatureNorm
from serlab.lengths import length_mask

Loaded = TypeVar("Loaded")

# the rate every pretrained encoder here was trained on
SAMPLE_RATE = 16000


def require_sample_rate(frontend: str, sample_rate: int) -> None:
    """Refuse audio at another rate than the encoders' SAMPLE_RATE."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(
            f"frontend={frontend} reads {SAMPLE_RATE // 1000} kHz: set data.audio.sample_rate={SAMPLE_RATE}, "
            f"not {sample_rate}"
        )


def checkpoint_activations(encoder: Any) -> None:
    """Let a transformers `encoder` recompute its blocks' activations in the backward pass (less memory)."""
    # non-reentrant, so blocks above frozen ones (inputs without gradients) still get theirs; every 5.x
    # release has this name (later ones also call it activation_checkpointing_enable)
    encoder.gradient_checkpointing_enable({"use_reentrant": False})


def load_pretrained(load: Callable[[str], Loaded], name: str) -> Loaded:
    """`load(name)` for a Hugging Face model name or local folder, refusing a name that cannot be found."""
    try:
        return load(name)
    except OSError as err:
        # offline (HF_HUB_OFFLINE=1) a name missing from the cache fails here, as does a folder that does not exist
        raise UserError(
            f"frontend.model: {name} is not in the local Hugging Face cache; download it once with "
            f"`hf download {name}` (online), or pass a local folder holding config.json and the weights"
        ) from err


def trainable_blocks(freeze: str, blocks: int) -> int | None:
    """How many of the encoder's top `blocks` train under `frontend.freeze`; None: the whole encoder does."""
    if freeze == "none":
        return None
    if freeze == "all":
        return 0
    count = freeze.removeprefix("top:")
    if freeze.startswith("top:") and count.isdigit() and 1 <= int(count) <= blocks:
        return int(count)
    raise ValueError(f"frontend.freeze must be 'all', 'none' or 'top:<k>' with 1 <= k <= {blocks}, got {freeze!r}")


class LayerMix(nn.Module):
    """(layers, batch, time, dim) hidden states -> (batch, dim, time): a weighted sum of all layers or one layer.

    The sum's weights are a softmax of learnt scores, equal at the start; `layer` (negative counts from the
    top) picks one layer instead and has no parameters.
    """

    def __init__(self, layers: int, layer: int | None = None) -> None:
        super().__init__()
        if layer is not None and not -layers <= layer < layers:
            raise ValueError(
                f"frontend.layer must be null (mix all) or a layer in [{-layers}, {layers - 1}] of this encoder's "
                f"{layers} hidden layers, got {layer}"
            )
        self.layers = layers
        self.layer = None if layer is None else layer % layers
        self.scores = nn.Parameter(torch.zeros(layers)) if layer is None else None

    @property
    def weights(self) -> torch.Tensor:
        """Each layer's weight (one-hot for a chosen layer)."""
        if self.scores is None:
            return nn.functional.one_hot(torch.tensor(self.layer), self.layers).float()
        return self.scores.softmax(0)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.scores is None:
            return hidden[self.layer].transpose(1, 2)
        return torch.einsum("l,lbtd->bdt", self.scores.softmax(0).to(hidden.dtype), hidden)


class PretrainedFrontend(nn.Module):
    """Base of the pretrained encoder frontends: waveforms -> mixed hidden layers (batch, dim, frames).

    Subclasses give `hidden_states`; frames past an utterance's end never reach its valid frames, so a padded
    row equals the same utterance alone. Frozen parts of the encoder stay in eval mode (no dropout, fixed
    batch-norm statistics) whatever mode the frontend is put in.

    For its first `warmup_epochs` training epochs (told by `start_epoch`) the whole encoder runs as a frozen one:
    without gradients and in eval mode, so only the layer mix and the model above it learn. Its trainable
    parameters are in the optimizer's groups from the start (they get no gradient, so no step moves them), and
    the phase follows from the epoch alone, so a run resumed during the warm-up continues it.
    """

    kind = "spectral"

    def __init__(
        self,
        encoder: nn.Module,
        blocks: Sequence[nn.Module],
        layers: int,
        out_features: int,
        layer: int | None,
        freeze: str,
        encoder_lr: float | None,
        norm: FeatureNorm,
        warmup_epochs: int = 0,
    ) -> None:
        super().__init__()
        top = trainable_blocks(freeze, len(blocks))
        if encoder_lr is not None and (encoder_lr <= 0 or top == 0):
            raise ValueError(
                f"frontend.encoder_lr must be positive and needs frontend.freeze other than 'all', "
                f"got {encoder_lr} with freeze={freeze!r}"
            )
        if warmup_epochs < 0 or (warmup_epochs > 0 and top == 0):
            raise ValueError(
                f"frontend.warmup_epochs must be 0 or more and needs frontend.freeze other than 'all' (something "
                f"to unfreeze), got {warmup_epochs} with freeze={freeze!r}"
            )
        self.encoder = encoder
        self.encoder_lr = encoder_lr
        self.out_features = out_features
        self.mix = LayerMix(layers, layer)
        self.norm = norm
        self.frozen = top == 0
        self.warmup_epochs = warmup_epochs
        # the first epoch is a warm-up one; start_epoch updates this at every epoch
        self.warming_up = warmup_epochs > 0
        # None: the whole encoder trains
        self.trainable = None if top is None else list(blocks)[len(blocks) - top :]
        if self.trainable is not None:
            encoder.requires_grad_(False)
            for block in self.trainable:
                block.requires_grad_(True)
        self.train()

    def train(self, mode: bool = True) -> PretrainedFrontend:
        super().train(mode)
        if self.warming_up or self.trainable is not None:
            self.encoder.eval()
        if self.trainable is not None and not self.warming_up:
            for block in self.trainable:
                block.train(mode)
        return self

    def start_epoch(self, epoch: int) -> None:
        """Warm up (encoder frozen) while `epoch` < `warmup_epochs`, then train the encoder's trainable parts."""
        self.warming_up = epoch < self.warmup_epochs

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Optimizer groups of the trainable parameters: the layer mix's, then the encoder's with `lr` set to
        `encoder_lr` when there is one (a group without `lr` trains at the optimizer's)."""
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        ids = {id(p) for p in encoder}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        own_lr: dict[str, Any] = {} if self.encoder_lr is None else {"lr": self.encoder_lr}
        groups: list[dict[str, Any]] = [{"params": rest}, {"params": encoder, **own_lr}]
        return [group for group in groups if group["params"]]

    def hidden_states(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(layers, batch, frames, dim) hidden states of the encoder's inputs (waveforms unless a subclass
        says otherwise) and each utterance's frame count; subclasses define it."""
        raise NotImplementedError

    def mixed(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed hidden layers (batch, dim, frames), zero past each utterance's frames, and the frame counts."""
        # a frozen encoder keeps no activations for a backward pass; the layer mix above it still learns
        with torch.no_grad() if self.frozen or self.warming_up else contextlib.nullcontext():
            hidden, frames = self.hidden_states(inputs, lengths)
        feats = self.mix(hidden)
        return feats * length_mask(frames, feats.shape[-1]).unsqueeze(1), frames

    def raw_features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mixed features before normalisation (what global statistics are gathered on)."""
        return self.mixed(waveforms, lengths)

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor, speakers: Sequence[str] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats, frames = self.raw_features(waveforms, lengths)
        return self.norm(feats, frames, speakers) * length_mask(frames, feats.shape[-1]).unsqueeze(1), frames
