"""Checking, before any data is read, that a run can write where it means to."""

from __future__ import annotations

import tempfile
from pathlib import Path

from serlab.errors import UserError


class RunFolderError(UserError, OSError):
    """A folder the run must write to cannot be created or written, or holds a finished run."""


def check_writable(*folders: Path) -> None:
    """Create each folder and write a scratch file in it; fail naming the first that refuses."""
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise RunFolderError(
                f"run folder {folder} cannot be written ({err.strerror or err}): choose a writable place with "
                "SERLAB_ROOT=..., paths.root_dir=... or paths.output_dir=..."
            ) from err


def check_not_finished(folder: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to train into a folder whose run finished (it holds metrics.json) unless resuming or overwriting."""
    if (folder / "metrics.json").is_file() and not (resume or overwrite):
        raise RunFolderError(
            f"run folder {folder} holds a finished run (metrics.json): continue it with ckpt_path=last, "
            "replace it with overwrite=true, or choose another hydra.run.dir"
        )
