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


def auxiliary_targets(row: Utterance, corpora: list[str]) -> dict[str, float]:
    """Gender and corpus indices (-1 when unknown) and dimensional ratings (NaN when absent)."""
    targets = {
        "gender": float(GENDERS.index(row.gender) if row.gender in GENDERS else MISSING_CLASS),
        "corpus": float(corpora.index(row.corpus) if row.corpus in corpora else MISSING_CLASS),
    }
    targets.update({name: _number(row.extra.get(name)) for name in DIMENSIONS})
    return targets
