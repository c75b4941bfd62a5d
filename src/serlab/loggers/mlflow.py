"""An MLflow logger on a local SQLite store: runs write it without a server, `mlflow server` reads it as is."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger

from serlab.extras import require
from serlab.loggers.run_ids import keep_run_id, resumed_run_id

SQLITE = "sqlite:///"


class _ContinuedRun(MLFlowLogger):
    """An MLFlowLogger on the run an earlier attempt started, which holds the hyperparameters already.

    They are not logged again: MLflow refuses to change a logged value, and a resumed run's differ (`ckpt_path`).
    """

    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        pass


def mlflow_logger(tracking_uri: str, id_file: str, resume_from: str | None = None, **kwargs: Any) -> MLFlowLogger:
    """Build an MLFlowLogger; for a `sqlite:///<path>` store the database's folder is made first.

    SQLite creates the database file but not its folder, and a fresh run root has none yet.
    The run id is kept in `id_file`; a run resuming from a checkpoint (`resume_from`) continues that MLflow run.
    """
    require("mlflow", "logger=mlflow")  # before Lightning's logger, whose own check ends in a traceback
    if tracking_uri.startswith(SQLITE):
        Path(tracking_uri.removeprefix(SQLITE)).parent.mkdir(parents=True, exist_ok=True)
    run_id = resumed_run_id(id_file, resume_from)
    logger = (_ContinuedRun if run_id else MLFlowLogger)(tracking_uri=tracking_uri, run_id=run_id, **kwargs)
    if logger.run_id:  # None on the processes other than rank 0, which log nothing
        keep_run_id(id_file, logger.run_id)
    return logger
