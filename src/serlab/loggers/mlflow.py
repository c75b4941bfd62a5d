"""An MLflow logger on a local store that needs no server."""

from __future__ import annotations

import os

from lightning.pytorch.loggers import MLFlowLogger


def mlflow_logger(tracking_uri: str, **kwargs) -> MLFlowLogger:
    """Build an MLFlowLogger; a `file:` store is allowed explicitly, since MLflow 3 refuses it by default.

    The file store needs no database migrations and can be browsed with `mlflow ui
    --backend-store-uri <uri>`; pass a `sqlite:///...` URI for MLflow's database store instead.
    """
    if tracking_uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MLFlowLogger(tracking_uri=tracking_uri, **kwargs)
