"""The training-split statistics a run's inputs and loss need, gathered once before fitting.

Every input stream is standardised with statistics of the training split alone (never validation
or test speakers), or, in the declared speaker-adaptive mode (`frontend.normalize=speaker`), with
each speaker's own statistics over all of that speaker's audio. They live in the module's
normalisers, so they travel in every checkpoint and are not gathered again on resume. The reconstruction
autoencoder (reconstruction=autoencoder) is fitted here as well, on the training split's standardised vectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import lightning as L
import torch

from serlab.features.normalize import FeatureNorm, SpeakerNorm, VectorNorm
from serlab.interfaces import ClassWeighted, Frontend

if TYPE_CHECKING:
    from serlab.training.module import SERModule


class StreamStatistics(L.Callback):
    """Fills the module's normalisers (frame stream and vector streams), fits its reconstruction autoencoder and
    sets a class-weighted loss's class counts from the datamodule's training split, at the start of fitting."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule: Any = trainer.datamodule  # type: ignore[attr-defined]  # Lightning sets it without declaring it
        module = cast("SERModule", pl_module)
        train = datamodule.datasets["train"]
        if isinstance(module.loss, ClassWeighted):
            module.loss.set_class_counts(torch.bincount(torch.tensor(train.targets), minlength=len(module.classes)))
        for name, node in module.vector_norms.items():
            norm = cast(VectorNorm, node)
            if norm.needs_statistics:
                # Every process holds the whole training split's vectors, so no reduction is needed; they
                # cover every version of the utterances (data.perturb) the model trains on.
                norm.set_statistics(train.vectors[name].flatten(0, 1).to(module.device))
        autoencoder = module.reconstruction
        if autoencoder is not None and autoencoder.needs_statistics:
            # on the standardised values, so after the normalisers; every process fits the same weights
            with torch.no_grad():
                values = {
                    name: module.vector_norms[name](train.vectors[name].flatten(0, 1).to(module.device))
                    for name in autoencoder.sources
                }
            autoencoder.fit(values)
        if module.frontend.norm.needs_statistics:
            gather_frame_statistics(module.frontend, datamodule, trainer.world_size, module.device)


@torch.no_grad()
def gather_frame_statistics(frontend: Frontend, datamodule: Any, world_size: int, device: torch.device) -> None:
    """The frame normaliser's statistics from one pass over the training data (all processes); in the
    speaker-adaptive mode over every speaker's audio, test speakers included."""
    norm = frontend.norm
    adaptive = isinstance(norm, SpeakerNorm)
    if adaptive:
        datamodule.setup("test")
    loaders = [datamodule.labelled_dataloader()]
    if adaptive:
        loaders += [datamodule.val_dataloader(), datamodule.test_dataloader()]
    for batch in (b for loader in loaders for b in loader):
        features = frontend.raw_features(batch.waveforms.to(device), batch.lengths.to(device))
        norm.accumulate(*features, batch.speakers)
    if world_size > 1 and isinstance(norm, SpeakerNorm):
        shards: list[dict] = [{} for _ in range(world_size)]
        torch.distributed.all_gather_object(shards, norm.speakers)
        norm.speakers = {s: sum(shard[s] for shard in shards if s in shard) for s in set().union(*shards)}
    elif world_size > 1 and isinstance(norm, FeatureNorm):
        for buffer in (norm.total, norm.squares, norm.count):
            torch.distributed.all_reduce(buffer)
