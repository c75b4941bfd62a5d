"""An autoencoder over utterance-level vector streams: its reconstruction error is a further stream and a novelty score.

After Han et al., "Reconstruction-error-based learning for speech emotion recognition" (ICASSP 2017): an
autoencoder learns the training utterances' features, and how badly it reconstructs an utterance tells the
classifier (and the user) how that utterance differs from what it learnt.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from serlab.config_check import ConfigError

log = logging.getLogger(__name__)

# The name under which models read the reconstruction error (model.streams), beside the data.streams names.
STREAM = "reconstruction"


class Autoencoder(nn.Module):
    """A denoising autoencoder (one tanh code layer) over the standardised, flattened and joined `sources` streams.

    It is fitted once, before the classifier trains, on the training split's standardised values alone (never
    validation or test speakers), and is held fixed afterwards: its weights are not the classifier's to train.
    Fitting depends only on those values, the settings and `seed` (its initial weights included), so a run repeats
    it exactly; weights, `reference` and `fitted` travel in checkpoints.

    The `reconstruction` stream of an utterance is |x - x̂| of each of its standardised values x (shape: the
    sources' sizes summed); its novelty is its mean squared reconstruction error over `reference`, the median of
    the training utterances' (1: as well reconstructed as the median training utterance).
    """

    reference: torch.Tensor
    fitted: torch.Tensor

    def __init__(
        self,
        vector_shapes: Mapping[str, Sequence[int]],
        sources: Sequence[str] = ("functionals",),
        code: int = 32,
        epochs: int = 100,
        batch_size: int = 32,
        lr: float = 1e-2,
        noise: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_settings(vector_shapes, sources, code=code, epochs=epochs, batch_size=batch_size, lr=lr, noise=noise)
        self.sources = tuple(sources)
        self.epochs, self.batch_size, self.lr, self.noise, self.seed = epochs, batch_size, lr, noise, seed
        size = sum(math.prod(vector_shapes[name]) for name in self.sources)
        # initial weights from the seed alone, drawn aside so that the run's own draws are unchanged
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = nn.Sequential(nn.Linear(size, code), nn.Tanh())
            self.decoder = nn.Linear(code, size)
        self.requires_grad_(False)
        self.register_buffer("reference", torch.ones(()))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one utterance's reconstruction error: one value per input value."""
        return (self.decoder.out_features,)

    @property
    def needs_statistics(self) -> bool:
        """True until `fit` has been called (also in a checkpoint saved before it)."""
        return not bool(self.fitted)

    def joined(self, vectors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(batch, size) input: each source's standardised values flattened, in `sources` order."""
        return torch.cat([vectors[name].flatten(1) for name in self.sources], dim=-1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The reconstruction of (batch, size) inputs."""
        return self.decoder(self.encoder(inputs))

    def errors(self, vectors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(batch, size) |x - x̂| of the standardised source streams in `vectors`."""
        inputs = self.joined(vectors)
        return (inputs - self(inputs)).abs()

    def with_stream(self, vectors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The standardised streams with the reconstruction error added under STREAM."""
        return {**vectors, STREAM: self.errors(vectors)}

    def novelty(self, vectors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(batch,) mean squared reconstruction error over the median training utterance's."""
        return self.errors(vectors).square().mean(-1) / self.reference

    @torch.enable_grad()
    def fit(self, vectors: Mapping[str, torch.Tensor]) -> None:
        """Learn to reconstruct the (n, *shape) standardised training values of each source, from noisy copies."""
        inputs = self.joined(vectors).detach().to(self.decoder.weight.dtype)
        generator = torch.Generator(inputs.device).manual_seed(self.seed)
        self.requires_grad_(True)
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        try:
            for _ in range(self.epochs):
                order = torch.randperm(len(inputs), generator=generator, device=inputs.device)
                for rows in order.split(self.batch_size):
                    clean = inputs[rows]
                    noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
                    loss = F.mse_loss(self(clean + self.noise * noise), clean)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        finally:
            self.requires_grad_(False)
        with torch.no_grad():
            errors = (inputs - self(inputs)).square().mean(-1)
            # a floor, so that a perfectly reconstructed training split still gives finite novelty
            self.reference.copy_(errors.median().clamp_min(1e-8))
            self.fitted.fill_(True)
        log.info(
            "reconstruction autoencoder: %d training utterance(s), median squared error %.4g (sources %s)",
            len(inputs), float(self.reference), ", ".join(self.sources),
        )  # fmt: skip


def check_settings(vector_shapes: Mapping[str, Sequence[int]], sources: Sequence[str], **settings: float) -> None:
    """Refuse sources the data does not provide and settings out of range, naming the `reconstruction.*` key."""
    missing = [name for name in sources if name not in vector_shapes]
    if missing or not sources:
        given = ", ".join(f"data.streams.{name}" for name in vector_shapes) or "none"
        raise ConfigError(
            f"reconstruction.sources: the autoencoder reconstructs {list(sources)}, but the data provides {given}: "
            f"add the data option that computes {missing[0] if missing else 'one'} (e.g. data/streams/functionals="
            "egemaps) or name the streams it provides"
        )
    if STREAM in vector_shapes:
        raise ConfigError(
            f"data.streams.{STREAM}: that name is the autoencoder's own stream (reconstruction=autoencoder); "
            "give the data stream another name"
        )
    least = {"code": 1, "epochs": 1, "batch_size": 1, "noise": 0}
    for key, value in settings.items():
        if key in least and value < least[key]:
            raise ConfigError(f"reconstruction.{key} must be >= {least[key]}, got {value}")
    if settings["lr"] <= 0:
        raise ConfigError(f"reconstruction.lr must be > 0, got {settings['lr']}")


def vector_inputs(
    vectors: Mapping[str, torch.Tensor], norms: nn.ModuleDict, reconstruction: Autoencoder | None
) -> dict[str, torch.Tensor]:
    """What models read of the vector streams: each standardised by its normaliser in `norms`, and the
    reconstruction error of `reconstruction` (when the run has one) under STREAM."""
    standardized = {name: norms[name](values) for name, values in vectors.items()}
    return standardized if reconstruction is None else reconstruction.with_stream(standardized)
