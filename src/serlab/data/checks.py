"""Checks of a corpus's files and classes, made when it is scanned, before any audio is decoded or trained on."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from serlab.data.audio import AudioError, check_file
from serlab.data.manifest import Utterance
from serlab.errors import UserError

# How many unusable files an error names; the rest are counted.
NAMED = 3
SKIP_HINT = "set data.on_bad_file=skip to leave such files out"


class UnusableFilesError(AudioError):
    """Files a run cannot use, found before training: the first is its `path`, and a few more are named."""

    def __init__(self, problems: list[AudioError]) -> None:
        first = problems[0]
        if len(problems) == 1:
            reason = f"{first.reason} ({SKIP_HINT})"
        else:
            others = "; ".join(str(p) for p in problems[1:NAMED])
            reason = f"{first.reason}; {len(problems)} unusable files in all, also {others} ({SKIP_HINT})"
        super().__init__(first.path, reason)
        self.problems = problems


class CorpusError(UserError, ValueError):
    """A corpus, as the data options read it, that gives a run nothing (or too little) to train on."""


class EmptyClassError(CorpusError):
    """A class of the label map that has no training utterances, so the model could never learn it."""


def _problem(row: Utterance) -> AudioError | None:
    try:
        check_file(row.path)
    except AudioError as err:
        return err
    return None


def file_problems(rows: list[Utterance], threads: int = 4) -> dict[str, AudioError]:
    """Why each unusable file of `rows` cannot be used, by utterance id, from sizes and headers only."""
    # Threads overlap the stat and header reads, which dominate on network file systems.
    with ThreadPoolExecutor(max(1, threads)) as pool:
        found = list(pool.map(_problem, rows))
    return {row.id: problem for row, problem in zip(rows, found) if problem is not None}


def check_classes(classes: list[str], train: list[Utterance], corpus: Counter, dropped: Counter) -> None:
    """Refuse classes without training utterances, saying how many the whole corpus has and which corpus
    labels the label map dropped (a misspelt label is the usual cause)."""
    counts = Counter(row.label for row in train)
    empty = [c for c in classes if not counts[c]]
    if not empty:
        return
    held = ", ".join(f"{c!r} ({corpus[c]} in the corpus, none of training speakers)" if corpus[c] else repr(c)
                     for c in empty)  # fmt: skip
    labels = ", ".join(f"{label!r} ({n})" for label, n in dropped.most_common())
    cause = f"the map dropped the corpus labels {labels}" if dropped else "the map dropped no corpus labels"
    raise EmptyClassError(
        f"data.label_map: no training utterances for class{'es' if len(empty) > 1 else ''} {held}; {cause}: "
        "map the corpus's labels (case-sensitive) to every class, or remove the class from the map"
    )
