"""Stopping at the first non-finite loss or weight, before anything diverged is saved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch

from serlab.training.checkpointing import last_checkpoint


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or non-finite weights."""


class StopOnDivergence(L.Callback):
    """Raises DivergenceError naming the epoch, step and utterances of the batch that diverged.

    It runs after every optimizer step and before checkpointing callbacks, so the weights on disk
    are never the diverged ones. Checking the weights too catches a finite loss whose gradient
    overflowed; it costs one norm over the parameters per step.
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        loss_ok = loss is None or bool(torch.isfinite(loss).all())
        if loss_ok and bool(torch.isfinite(torch.nn.utils.get_total_norm(list(module.parameters())))):
            return
        saved = last_checkpoint(trainer)
        cause = "the weights became non-finite" if loss is None or loss_ok else f"the loss is {loss.item()}"
        raise DivergenceError(
            f"training diverged at epoch {trainer.current_epoch}, step {trainer.global_step} (batch {batch_idx} "
            f"of the epoch): {cause}. "
            f"Utterances in the batch: {', '.join(batch.ids)}. "
            f"Nothing was saved from this step; the last good checkpoint is "
            f"{saved if saved and saved.is_file() else 'none (none saved yet)'}. "
            "Try a lower optimizer.lr or trainer.gradient_clip_val=5.0, or check these utterances."
        )
