"""Several corpora read as one, for cross-corpus and multi-corpus training."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from serlab.data.corpora.base import Corpus
from serlab.data.manifest import Utterance
from serlab.errors import UserError


class MembersError(UserError, ValueError):
    """data=multi given folders for fewer than two corpora, or for a corpus it has no adapter for."""


class MultiCorpus:
    """The union of named corpora; ids and speakers are prefixed with the corpus name to stay distinct."""

    name = "multi"
    caveat = ""

    def __init__(self, corpora: Mapping[str, Corpus]) -> None:
        if not corpora:
            raise ValueError("data.corpus.corpora is empty: name at least one corpus")
        self.corpora = dict(corpora)

    @classmethod
    def from_roots(
        cls, adapters: Mapping[str, Callable[[str | Path], Corpus]], roots: Mapping[str, str | Path | None]
    ) -> MultiCorpus:
        """The corpora whose folder `roots` gives (the others are left out), each read by its adapter."""
        unknown = sorted(set(roots) - set(adapters))
        if unknown:
            raise MembersError(f"data.roots.{unknown[0]}: no corpus adapter of that name; known: {sorted(adapters)}")
        given = {name: root for name, root in roots.items() if root is not None}
        if len(given) < 2:
            raise MembersError(
                f"data.roots: data=multi needs the folders of at least two corpora, got {sorted(given) or 'none'}; "
                f"give data.roots.<name>=/path for two or more of {sorted(adapters)}"
            )
        return cls({name: adapters[name](root) for name, root in given.items()})

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
