"""Any corpus listed in a CSV/TSV manifest with at least `path,label,speaker` columns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from serlab.data.corpora.base import audio_duration
from serlab.data.manifest import ManifestError, Utterance, read_manifest


class ManifestCorpus:
    """Rows of a user's manifest file; relative paths resolve against the file's folder."""

    name = "manifest"
    caveat = ""

    def __init__(self, path: str | Path, delimiter: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.delimiter = delimiter

    def prepare(self) -> None:
        """Check that the manifest file exists."""
        if not self.path.is_file():
            raise ManifestError(f"data.corpus.path: manifest {self.path} not found (a CSV/TSV with path,label,speaker)")

    def scan(self) -> list[Utterance]:
        """The manifest's rows; a missing duration is read from the audio header."""
        self.prepare()
        rows = read_manifest(self.path, self.delimiter)
        if not rows:
            raise ManifestError(f"{self.path}: the manifest has a header but no rows")
        return [replace(r, duration=r.duration or audio_duration(r.path), corpus=r.corpus or self.name) for r in rows]

