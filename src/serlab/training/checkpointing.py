"""Checkpoint files: written atomically, and where a run keeps its last one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside it, then renames it into place.

    A crash, a kill or a full disk while saving leaves the previous checkpoint whole and no
    half-written file under the checkpoint's name. Lightning's own writer stages the file in the
    system temporary folder and moves it, which is a copy (not atomic) when that folder is on
    another file system, as on most cluster nodes. Remote (fsspec) paths keep Lightning's writer.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # closed by `with temporary` below; opened first so that the except branch knows its name
        temporary = tempfile.NamedTemporaryFile(  # noqa: SIM115
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        )
        try:
            with temporary:
                torch.save(checkpoint, temporary)
                temporary.flush()
                os.fsync(temporary.fileno())
            os.replace(temporary.name, path)
        except BaseException:
            Path(temporary.name).unlink(missing_ok=True)
            raise


def last_checkpoint(trainer: L.Trainer) -> Path | None:
    """Where the run's `last.ckpt` goes, or None when no ModelCheckpoint keeps one."""
    checkpoint = trainer.checkpoint_callback
    if not isinstance(checkpoint, ModelCheckpoint) or not checkpoint.dirpath:
        return None
    return Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}{checkpoint.FILE_EXTENSION}"


def checkpoint_dirs(trainer: L.Trainer) -> list[Path]:
    """The folders the trainer's ModelCheckpoint callbacks write to."""
    return [Path(c.dirpath) for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.dirpath]


def kept_val_metrics(path: str | Path) -> dict[str, float]:
    """The validation metrics of the epoch a checkpoint was saved at (empty for checkpoints that lack them)."""
    # mmap: only the small record is read, not the weights
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return dict(checkpoint.get("serlab", {}).get("val_metrics", {}))
