"""Label maps: corpus label -> class name, with unmapped labels dropped and counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from serlab.data.manifest import Utterance


@dataclass(frozen=True)
class LabelMap:
    """Maps corpus labels to an ordered list of classes."""

    mapping: Mapping[str, str]

    def __post_init__(self) -> None:
        if not self.mapping:
            raise ValueError("data.label_map is empty: give at least one 'corpus label: class' pair")

    @property
    def classes(self) -> list[str]:
        """Class names in first-mention order; the index of a class is its target id."""
        return list(dict.fromkeys(self.mapping.values()))

    def apply(self, rows: list[Utterance]) -> tuple[list[Utterance], Counter]:
        """Relabel rows to class names; return them and the count of dropped corpus labels."""
        kept: list[Utterance] = []
        dropped: Counter[str] = Counter()
        for row in rows:
            if row.label in self.mapping:
                kept.append(replace(row, label=self.mapping[row.label]))
            else:
                dropped[row.label] += 1
        return kept, dropped
