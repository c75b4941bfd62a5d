"""An MLflow logger on a local store that needs no server."""

from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger

from serlab.loggers.run_ids import keep_run_id, resumed_run_id


class _ContinuedRun(MLFlowLogger):
    """An MLFlowLogger on the run an earlier attempt started, which holds the hyperparameters already.

    They are not logged again: MLflow refuses to change a logged value, and a resumed run's differ (`ckpt_path`).
    """

    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        pass


def mlflow_logger(tracking_uri: str, id_file: str, resume_from: str | None = None, **kwargs) -> MLFlowLogger:
    """Build an MLFlowLogger; a `file:` store is allowed explicitly, since MLflow 3 refuses it by default.

    The file store needs no database migrations and can be browsed with `mlflow ui
    --backend-store-uri <uri>`; pass a `sqlite:///...` URI for MLflow's database store instead.
    The run id is kept in `id_file`; a run resuming from a checkpoint (`resume_from`) continues that MLflow run.
    """
    if tracking_uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    run_id = resumed_run_id(id_file, resume_from)
    logger = (_ContinuedRun if run_id else MLFlowLogger)(tracking_uri=tracking_uri, run_id=run_id, **kwargs)
    if logger.run_id:  # None on the processes other than rank 0, which log nothing
        keep_run_id(id_file, logger.run_id)
    return logger
