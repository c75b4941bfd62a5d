"""What goes into a run's log (the console and <run folder>/<task>.log), wired up in configs/hydra/default.yaml."""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

# Lines that say nothing about the run: advertisements, and notes about serlab's own callback choices.
NOISE = (
    "💡 Tip:",
    "Trainer already configured with model summary callbacks",
)


class DropNoise(logging.Filter):
    """Drops the records whose message starts with one of `NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(NOISE)


class WarningsToLog(Callback):
    """Sends Python warnings (Lightning's included) through logging, so the run's log file keeps them too."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        logging.captureWarnings(True)
