"""Checking, before any data is read, that a run can write where it means to."""

from __future__ import annotations

import tempfile
from pathlib import Path


class RunFolderError(OSError):
    """A folder the run must write to cannot be created or written."""


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
