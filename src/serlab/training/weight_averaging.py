"""An exponential moving average of the weights, validated, checkpointed and tested in their place."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


class EMAWeights(EMAWeightAveraging):
    """After every optimizer step avg = decay * avg + (1 - decay) * weights (Lightning's EMA averaging).

    Validation (hence early stopping and the best checkpoint) sees the averaged weights, and
    checkpoints hold them as their `state_dict`, so testing, serlab-eval, prediction and export use
    them too. Buffers (BatchNorm and normalisation statistics) are averaged alike.
    """

    def __init__(self, decay: float = 0.98) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"callbacks.ema.decay must lie strictly between 0 and 1, got {decay}")
        super().__init__(decay=decay)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        # The averaged copy is made before the module gathers its statistics, and state kept outside
        # tensors (per-speaker statistics) is never averaged: take it from the live module.
        live = pl_module.state_dict()
        for key in checkpoint["state_dict"]:
            if key.endswith("_extra_state"):
                checkpoint["state_dict"][key] = live[key]

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Lightning would put the raw weights back whenever a checkpoint is loaded, testing included;
        # only a resumed fit needs them, and what is tested must be the average in `state_dict`.
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
