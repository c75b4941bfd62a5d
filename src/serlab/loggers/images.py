"""Sending a matplotlib figure to whichever loggers a run has."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lightning.fabric.loggers import Logger
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger, WandbLogger
from matplotlib.figure import Figure

from serlab.extras import require


def _tensorboard(logger: TensorBoardLogger, key: str, fig: Figure, step: int) -> None:
    logger.experiment.add_figure(key, fig, global_step=step, close=False)


def _wandb(logger: WandbLogger, key: str, fig: Figure, step: int) -> None:
    wandb = require("wandb", "logger=wandb")
    logger.experiment.log({key: wandb.Image(fig), "trainer/global_step": step})


def _mlflow(logger: MLFlowLogger, key: str, fig: Figure, step: int) -> None:
    logger.experiment.log_figure(logger.run_id, fig, f"{key}.png")


def _csv(logger: CSVLogger, key: str, fig: Figure, step: int) -> None:
    path = Path(logger.log_dir) / f"{key.replace('/', '_')}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


# Lightning's loggers share no image API, so each backend gets its own writer.
_WRITERS = {TensorBoardLogger: _tensorboard, WandbLogger: _wandb, MLFlowLogger: _mlflow, CSVLogger: _csv}


def log_figure(loggers: Iterable[Logger], key: str, fig: Figure, step: int) -> None:
    """Log `fig` under `key` to every logger that can store images."""
    for logger in loggers:
        for kind, write in _WRITERS.items():
            if isinstance(logger, kind):
                write(logger, key, fig, step)
                break
