"""The lottery-ticket procedure with late rewinding (Frankle et al. 2019), as rounds of one fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch

from serlab.config_check import ConfigError
from serlab.training.pruning import Pruning, Scope, Structure


class LotteryTicket(Pruning):
    """Train, prune `rate` of the surviving weights by magnitude, rewind the survivors to their early values, retrain.

    The fit is `rounds + 1` trainings of `round_epochs` epochs each (null: trainer.max_epochs split evenly; the
    last training runs to trainer.max_epochs). The parameters after `rewind_epoch` epochs of the first training
    (0: as initialised) are the rewind point. At the start of each later training the masks drop `rate` of the
    weights that survived (after `rounds` rounds 1 - (1 - rate)^rounds of them are zero), every parameter goes back
    to its rewind value (pruned weights to zero), and the optimizer and learning-rate schedule start afresh.
    The weights of the last training are the result: the kept checkpoint is chosen among its epochs only, and
    early stopping waits for it.
    """

    def __init__(
        self,
        rounds: int = 3,
        rate: float = 0.5,
        rewind_epoch: int = 1,
        round_epochs: int | None = None,
        scope: Scope = "layer",
        structure: Structure = "unstructured",
        include: Sequence[str] = ("model.*",),
        exclude: Sequence[str] = ("model.head.*", "model.tasks.*"),
    ) -> None:
        super().__init__(scope, structure, include, exclude)
        if rounds < 1 or not 0.0 < rate < 1.0 or rewind_epoch < 0:
            raise ConfigError(
                f"pruning: rounds={rounds}, rate={rate}, rewind_epoch={rewind_epoch}: need rounds >= 1, "
                "0 < rate < 1 and rewind_epoch >= 0"
            )
        self.rounds = rounds
        self.rate = rate
        self.rewind_epoch = rewind_epoch
        self.round_epochs = round_epochs
        # the parameters' values at the rewind point, by name; empty until it is reached
        self.rewind_values: dict[str, torch.Tensor] = {}

    @property
    def period(self) -> int:
        """Epochs per training (set once the trainer is known)."""
        if self.round_epochs is None:
            raise RuntimeError("LotteryTicket.period is known only after setup")
        return self.round_epochs

    @property
    def target(self) -> float:
        return 1.0 - (1.0 - self.rate) ** self.rounds

    @property
    def last_step(self) -> int:
        return self.rounds * self.period

    def due(self, epoch: int) -> float | None:
        done, offset = divmod(epoch, self.period)
        if offset or not 1 <= done <= self.rounds:
            return None
        return 1.0 - (1.0 - self.rate) ** done

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage != "fit":
            return
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs >= 0 else None
        if self.round_epochs is None:
            if max_epochs is None:
                raise ConfigError("pruning.round_epochs: give the epochs per round, as trainer.max_epochs is unbounded")
            self.round_epochs = max_epochs // (self.rounds + 1)
        if self.round_epochs <= self.rewind_epoch or (max_epochs is not None and max_epochs <= self.last_step):
            raise ConfigError(
                f"pruning: {self.rounds} rounds of {self.round_epochs} epochs, rewinding to epoch {self.rewind_epoch}, "
                f"do not fit trainer.max_epochs={max_epochs}: need rewind_epoch < round_epochs and "
                "(rounds + 1) x round_epochs <= max_epochs; raise trainer.max_epochs or set pruning.round_epochs"
            )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.rewind_epoch and not self.rewind_values:
            self.rewind_values = {name: p.detach().clone() for name, p in pl_module.named_parameters()}
        super().on_train_epoch_start(trainer, pl_module)

    @torch.no_grad()
    def pruned(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for name, param in pl_module.named_parameters():
            param.copy_(self.rewind_values[name])
        self.apply()
        # a fresh optimizer (no moments) and learning-rate schedule (from its first step) for the new round
        trainer.strategy.setup_optimizers(trainer)

    def state_dict(self) -> dict[str, Any]:
        rewind = {name: value.cpu() for name, value in self.rewind_values.items()}
        return {**super().state_dict(), "rewind_values": rewind, "round_epochs": self.period}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.rewind_values = dict(state_dict["rewind_values"])
        self.round_epochs = int(state_dict["round_epochs"])
