"""Auxiliary targets an utterance offers besides its emotion class, for multi-task heads."""

from __future__ import annotations

import math

from serlab.data.manifest import Utterance

GENDERS = ("f", "m")
DIMENSIONS = ("arousal", "valence", "dominance")
MISSING_CLASS = -1  # categorical targets a row lacks; losses ignore them


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def corpus_head(corpus: str) -> str:
    """Name of the emotion head and target that belong to one corpus."""
    return f"emotion_{corpus}"


def auxiliary_targets(row: Utterance, corpora: list[str], emotion: int) -> dict[str, float]:
    """Gender and corpus indices (-1 when unknown), dimensional ratings (NaN when absent), and
    the emotion class once per corpus: set for the row's own corpus, -1 for the others."""
    targets = {
        "gender": float(GENDERS.index(row.gender) if row.gender in GENDERS else MISSING_CLASS),
        "corpus": float(corpora.index(row.corpus) if row.corpus in corpora else MISSING_CLASS),
    }
    targets.update({name: _number(row.extra.get(name)) for name in DIMENSIONS})
    targets.update({corpus_head(c): float(emotion if c == row.corpus else MISSING_CLASS) for c in corpora})
    return targets
