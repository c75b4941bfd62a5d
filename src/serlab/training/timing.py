"""Wall time of each training epoch, how much of it waited for data, and audio throughput."""

from __future__ import annotations

import time
from typing import Any

import lightning as L


class EpochTimer(L.Callback):
    """Logs per epoch `time/epoch_s` (training start to validation end), `time/data_wait_frac` (share
    of training time spent between batches, i.e. waiting for the loader) and `time/audio_s_per_s`
    (seconds of audio trained per second)."""

    def __init__(self) -> None:
        self.start = self.last = self.waited = self.audio = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start = self.last = time.perf_counter()
        self.waited = self.audio = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self.waited += time.perf_counter() - self.last
        self.audio += float(batch.lengths.sum())

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        self.last = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        busy = max(self.last - self.start, 1e-9)
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # Lightning sets it without declaring it
        rate = datamodule.sample_rate if datamodule is not None else 1
        module.log("time/data_wait_frac", self.waited / busy, rank_zero_only=True)
        module.log("time/audio_s_per_s", self.audio / rate / busy, rank_zero_only=True)

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self.start:
            module.log("time/epoch_s", time.perf_counter() - self.start, sync_dist=False, rank_zero_only=True)
