"""SIGTERM (what SLURM and most schedulers send before a kill): save the run's state and exit."""

from __future__ import annotations

import signal

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from serlab.training.checkpointing import last_checkpoint

# What a shell reports for a process ended by SIGTERM: schedulers and retry loops see an
# interrupted job, not a finished one.
INTERRUPTED = 128 + signal.SIGTERM


class PreemptionCheckpoint(L.Callback):
    """On SIGTERM, saves the state after the last finished training batch as `last.ckpt` and exits 143.

    Lightning notices the signal and stops after the current batch; `ckpt_path=last` then continues
    from exactly there. A signal during validation or testing saves nothing: `last.ckpt` from the end
    of the previous epoch stands, and a resume repeats the unfinished epoch.
    """

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        path = last_checkpoint(trainer)
        if trainer.training and path is not None:
            trainer.save_checkpoint(path)
            rank_zero_info(
                f"SIGTERM: saved epoch {trainer.current_epoch}, step {trainer.global_step} to {path}; "
                "run the same command with ckpt_path=last to continue"
            )
        else:
            rank_zero_info("SIGTERM outside a training step: nothing new saved")
        exception.code = INTERRUPTED
