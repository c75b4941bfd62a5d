"""Test-only callbacks that inject faults into a training run at a chosen batch, or look into it there."""

from __future__ import annotations

import os
import time
from typing import Any

import lightning as L
import torch


class SignalAt(L.Callback):
    """Sends `signum` to this process when training reaches batch `batch` of epoch `epoch`."""

    def __init__(self, epoch: int, batch: int, signum: int) -> None:
        self.epoch, self.batch, self.signum = epoch, batch, signum

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            os.kill(os.getpid(), self.signum)


class NaNAt(L.Callback):
    """Puts a NaN into the first waveform of batch `batch` of epoch `epoch`, as corrupt audio would,
    and writes the batch's utterance ids to `record`, one per line."""

    def __init__(self, epoch: int, batch: int, record: str) -> None:
        self.epoch, self.batch, self.record = epoch, batch, record

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            batch.waveforms[0, 0] = float("nan")
            with open(self.record, "w") as f:
                f.write("\n".join(batch.ids))


class RaiseOnRank(L.Callback):
    """Raises in process `rank` at batch `batch`, as a crash of one data-parallel process would."""

    def __init__(self, rank: int, batch: int = 1) -> None:
        self.rank, self.batch = rank, batch

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if (trainer.global_rank, batch_idx) == (self.rank, self.batch):
            raise RuntimeError(f"injected failure on rank {self.rank}")


class StallOnRank(L.Callback):
    """Stalls process `rank` for `seconds` at batch `batch`, as a hung data-parallel process would."""

    def __init__(self, rank: int, seconds: float, batch: int = 1) -> None:
        self.rank, self.seconds, self.batch = rank, seconds, batch

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if (trainer.global_rank, batch_idx) == (self.rank, self.batch):
            time.sleep(self.seconds)


class ZeroWeightsAt(L.Callback):
    """Zeroes the model's weights before validation of epoch `epoch`, so that epoch scores at chance."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking:
            for parameter in module.model.parameters():
                parameter.data.zero_()


class StopAfter(L.Callback):
    """Ends the fit after epoch `epoch` (its last.ckpt written), as an interruption between epochs would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


class ParametersAt(L.Callback):
    """Saves the module's parameters and how many parameters the optimizer holds state for to `path` (a .pt file)
    as the first batch of epoch `epoch` starts: after every callback's epoch-start hook, before any step."""

    def __init__(self, epoch: int, path: str) -> None:
        self.epoch, self.path = epoch, path

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, 0):
            parameters = {name: p.detach().clone() for name, p in module.named_parameters()}
            torch.save({"parameters": parameters, "optimizer_states": len(trainer.optimizers[0].state)}, self.path)
