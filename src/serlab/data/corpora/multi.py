"""Several corpora read as one, for cross-corpus and multi-corpus training."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from serlab.data.corpora.base import Corpus
from serlab.data.manifest import Utterance


class MultiCorpus:
    """The union of named corpora; ids and speakers are prefixed with the corpus name to stay distinct."""

    name = "multi"
    caveat = ""

    def __init__(self, corpora: Mapping[str, Corpus]) -> None:
        if not corpora:
            raise ValueError("data.corpus.corpora is empty: name at least one corpus")
        self.corpora = dict(corpora)

    def prepare(self) -> None:
        """Prepare every member corpus."""
        for corpus in self.corpora.values():
            corpus.prepare()

    def scan(self) -> list[Utterance]:
        """All members' rows, each tagged with the name it has in `corpora`."""
        return [
            replace(row, id=f"{name}/{row.id}", speaker=f"{name}/{row.speaker}", corpus=name)
            for name, corpus in self.corpora.items()
            for row in corpus.scan()
        ]
