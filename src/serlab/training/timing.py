"""Wall time of each training epoch, logged beside the metrics."""

from __future__ import annotations

import time

import lightning as L


class EpochTimer(L.Callback):
    """Logs `time/epoch_s`: seconds from the start of a training epoch to the end of its validation."""

    def __init__(self) -> None:
        self.start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self.start:
            module.log("time/epoch_s", time.perf_counter() - self.start, sync_dist=False, rank_zero_only=True)
