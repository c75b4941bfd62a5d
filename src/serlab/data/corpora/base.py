"""What every corpus adapter provides."""

from __future__ import annotations

from typing import Protocol

from serlab.data.manifest import Utterance


class Corpus(Protocol):
    """A source of labelled utterances on disk."""

    name: str

    def prepare(self) -> None:
        """Make the corpus available on disk (no-op for corpora the user brings)."""

    def scan(self) -> list[Utterance]:
        """Return one manifest row per usable utterance."""
