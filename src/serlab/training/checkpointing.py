"""Checkpoint files: written atomically, where a run keeps its last one, and a run read back from one."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from serlab.errors import UserError


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


def saved_record(path: str | Path) -> dict[str, Any]:
    """The `serlab` record a checkpoint holds (config, classes, validation metrics; empty when it has none)."""
    # mmap: only the small record is read, not the weights
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return dict(checkpoint.get("serlab", {}))


def kept_val_metrics(path: str | Path) -> dict[str, float]:
    """The validation metrics of the epoch a checkpoint was saved at (empty for checkpoints that lack them)."""
    return dict(saved_record(path).get("val_metrics", {}))


def resumed_checkpoint(ckpt_path: str | None, trainer: L.Trainer) -> Path | None:
    """The checkpoint fitting continues from: `ckpt_path`, or for `last` the run's last.ckpt when there is one
    (Lightning starts afresh when there is none)."""
    if ckpt_path != "last":
        return None if ckpt_path is None else Path(ckpt_path).expanduser().resolve()
    last = last_checkpoint(trainer)
    return last if last is not None and last.is_file() else None


class CheckpointError(UserError, ValueError):
    """A `ckpt_path` that names no checkpoint written by serlab-train."""


# What every refusal of a `ckpt_path` suggests instead.
CHECKPOINT_HINT = "pass the best.ckpt or last.ckpt in the checkpoints/ folder of a serlab-train run"


def checkpoint_in(folder: Path) -> Path | None:
    """The checkpoint a user most likely meant by naming a run folder or its checkpoints/ folder."""
    candidates = [folder / sub / name for name in ("best.ckpt", "last.ckpt") for sub in ("checkpoints", ".")]
    return next((c for c in candidates if c.is_file()), None)


def load_run(ckpt_path: Path, key: str = "ckpt_path") -> tuple[dict, DictConfig, list[str]]:
    """Read a serlab checkpoint: its state, the run's composed config and its class order; a refusal names
    the config `key` that gave the path."""
    if ckpt_path.is_dir():
        found = checkpoint_in(ckpt_path)
        instead = f"pass {found}" if found else CHECKPOINT_HINT
        raise CheckpointError(f"{key}: {ckpt_path} is a folder, not a checkpoint; {instead}")
    if not ckpt_path.is_file():
        raise CheckpointError(f"{key}: no checkpoint at {ckpt_path}; {CHECKPOINT_HINT}")
    if not zipfile.is_zipfile(ckpt_path):
        raise CheckpointError(
            f"{key}: {ckpt_path} is not a PyTorch checkpoint (not the zip archive torch.save writes); "
            f"{CHECKPOINT_HINT}"
        )
    try:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as err:
        raise CheckpointError(
            f"{key}: {ckpt_path} is damaged or holds pickled objects rather than weights ({type(err).__name__}); "
            f"{CHECKPOINT_HINT}"
        ) from err
    saved = state.get("serlab") if isinstance(state, dict) else None
    if not saved or not saved.get("config"):
        raise CheckpointError(
            f"{key}: {ckpt_path} was not written by serlab-train (no 'serlab' record inside); {CHECKPOINT_HINT}"
        )
    return state, OmegaConf.create(saved["config"]), list(saved["classes"])
