"""Training progress: live bars on a terminal, one log line per epoch anywhere else."""

from __future__ import annotations

import logging
import sys

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar

log = logging.getLogger(__name__)


class EpochLines(ProgressBar):
    """Logs one line per training epoch with the progress-bar metrics (after validation)."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        metrics = {k: v for k, v in self.get_metrics(trainer, module).items() if k != "v_num"}
        shown = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items()))
        log.info("epoch %d: %s", trainer.current_epoch, shown)


def progress_bar() -> ProgressBar:
    """Lightning's live bars when the output is a terminal; otherwise (a batch job's log, a pipe) `EpochLines`,
    since there every redraw of a bar, and each of its metrics, would land in the log as a line of its own."""
    return RichProgressBar() if sys.stdout.isatty() else EpochLines()
