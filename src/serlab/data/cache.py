"""On-disk cache of decoded waveforms, keyed by the file's identity and the audio settings."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from serlab.data.audio import AudioSettings, load_audio


def _digest(text: str, size: int = 16) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:size]


class AudioCache:
    """Decode each file once; later epochs and runs read the `.npy` copy.

    A file's entry is named after its absolute path, size and modification time, so an edited
    file is decoded again; the settings choose the folder, so new settings never see old audio.
    """

    def __init__(self, root: str | Path | None, settings: AudioSettings) -> None:
        self.settings = settings
        self.folder = None if root is None else Path(root) / _digest(json.dumps(settings.as_dict(), sort_keys=True), 12)

    @staticmethod
    def _entry(folder: Path, path: Path) -> Path:
        stat = path.stat()
        return folder / f"{_digest(f'{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}', 24)}.npy"

    def load(self, path: Path) -> torch.Tensor:
        """The waveform of `path`, from the cache when it holds the current version of the file."""
        if self.folder is None or not Path(path).is_file():
            return load_audio(path, self.settings)
        entry = self._entry(self.folder, Path(path))
        if entry.exists():
            try:
                return torch.from_numpy(np.load(entry))
            except (OSError, ValueError, EOFError):
                pass  # a damaged entry is decoded again and overwritten
        wave = load_audio(path, self.settings)
        save_npy(entry, wave.numpy())
        return wave



def write_atomically(entry: Path, write: Callable[[BinaryIO], None]) -> None:
    """Let `write` fill a file that then replaces `entry` (folders created) in one step, so parallel runs and
    crashes never leave a half-written entry."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, entry)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npy(entry: Path, array: np.ndarray) -> None:
    """Write `array` to `entry`, creating its folder."""
    write_atomically(entry, lambda f: np.save(f, array))
