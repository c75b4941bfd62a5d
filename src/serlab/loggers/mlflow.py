"""An MLflow logger on a local SQLite store: runs write it without a server, `mlflow server` reads it as is."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger

SQLITE = "sqlite:///"


def mlflow_logger(tracking_uri: str, **kwargs) -> MLFlowLogger:
    """Build an MLFlowLogger; for a `sqlite:///<path>` store the database's folder is made first.

    SQLite creates the database file but not its folder, and a fresh run root has none yet.
    """
    if tracking_uri.startswith(SQLITE):
        Path(tracking_uri.removeprefix(SQLITE)).parent.mkdir(parents=True, exist_ok=True)
    return MLFlowLogger(tracking_uri=tracking_uri, **kwargs)
