"""Speaker-independent protocols: every speaker sits in exactly one of train, val and test."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from serlab.data.manifest import Utterance
from serlab.errors import UserError


class SpeakerLeakError(ValueError):
    """A speaker appears on more than one side of a split."""


class SplitError(UserError, ValueError):
    """A split protocol whose settings the corpus cannot satisfy."""


IN_CORPUS = "in-corpus"
SOURCE_VALIDATED = "source-validated"
TARGET_VALIDATED = "target-validated"


@dataclass(frozen=True)
class SpeakerSplit:
    """Which speakers form train, val and test; `mode` says where the test and validation speakers come from:
    in-corpus (the corpora trained on), source-validated (other corpora, validation from the training ones) or
    target-validated (other corpora, validation from labelled speakers of the test corpora)."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    mode: str = IN_CORPUS

    def check(self) -> None:
        """Refuse any split in which a speaker is on two sides or a side is empty."""
        sides = {"train": set(self.train), "val": set(self.val), "test": set(self.test)}
        for name, speakers in sides.items():
            if not speakers:
                raise SpeakerLeakError(f"the {name} split has no speakers")
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = sides[a] & sides[b]
            if shared:
                raise SpeakerLeakError(
                    f"speaker(s) {sorted(shared)} are in both {a} and {b}: results would not be speaker-independent"
                )

    def sides(self) -> dict[str, tuple[str, ...]]:
        """The speakers of each side, by name: train, val, test."""
        return {"train": tuple(self.train), "val": tuple(self.val), "test": tuple(self.test)}

    def side_of(self, speaker: str) -> str | None:
        """The split a speaker belongs to, or None if it is in none."""
        return next((name for name, speakers in self.sides().items() if speaker in speakers), None)


@runtime_checkable
class SplitProtocol(Protocol):
    """How a corpus is cut into speaker-disjoint folds."""

    def n_folds_for(self, rows: list[Utterance]) -> int:
        """How many folds the protocol has on these rows."""

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        """Assign every speaker of `rows` to train, val or test for `fold`."""


def _speakers(rows: list[Utterance]) -> list[str]:
    return sorted({r.speaker for r in rows})


def _check_fold(fold: int, n_folds: int) -> None:
    if not 0 <= fold < n_folds:
        raise SplitError(f"data.fold must be in 0..{n_folds - 1}, got {fold}")


def _hold_out(groups: Sequence[Sequence[str]], fold: int, n_val_speakers: int) -> SpeakerSplit:
    """Test on group `fold`; validate on the first speakers after it (wrapping round); train on the rest."""
    test = list(groups[fold])
    rest = [s for g in [*groups[fold + 1 :], *groups[:fold]] for s in g]
    split = SpeakerSplit(tuple(rest[n_val_speakers:]), tuple(rest[:n_val_speakers]), tuple(test))
    split.check()
    return split


@dataclass(frozen=True)
class SpeakerFolds:
    """k folds over sorted speakers, in contiguous blocks whose sizes differ by at most one."""

    n_folds: int = 5
    n_val_speakers: int = 1

    def n_folds_for(self, rows: list[Utterance]) -> int:
        return self.n_folds

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        speakers = _speakers(rows)
        if self.n_folds < 2:
            raise ValueError(f"data.split.n_folds must be >= 2, got {self.n_folds}")
        if self.n_val_speakers < 1:
            raise ValueError(f"data.split.n_val_speakers must be >= 1, got {self.n_val_speakers}")
        largest_test = -(-len(speakers) // self.n_folds)
        if self.n_folds > len(speakers) or len(speakers) - largest_test - self.n_val_speakers < 1:
            raise SplitError(
                f"data.split: {len(speakers)} speaker(s) {speakers[:12]} cannot fill {self.n_folds} test folds, "
                f"{self.n_val_speakers} validation speaker(s) and at least one training speaker"
            )
        _check_fold(fold, self.n_folds)
        bounds = [round(i * len(speakers) / self.n_folds) for i in range(self.n_folds + 1)]
        blocks = [speakers[bounds[i] : bounds[i + 1]] for i in range(self.n_folds)]
        return _hold_out(blocks, fold, self.n_val_speakers)


@dataclass(frozen=True)
class BalancedSpeakerFolds:
    """k folds of speakers that hold about equal numbers of utterances, for corpora whose speakers hold very
    different numbers; validation speakers from the other folds hold at most `val_share` of the utterances."""

    n_folds: int = 5
    val_share: float = 0.1

    def n_folds_for(self, rows: list[Utterance]) -> int:
        return self.n_folds

    def groups(self, rows: list[Utterance]) -> list[list[str]]:
        """The test speakers of each fold: largest speaker first, each joins the fold holding fewest so far."""
        counts = Counter(r.speaker for r in rows)
        groups: list[list[str]] = [[] for _ in range(self.n_folds)]
        sizes = [0] * self.n_folds
        for speaker in sorted(counts, key=lambda s: (-counts[s], s)):
            k = min(range(self.n_folds), key=lambda i: (sizes[i], i))
            groups[k].append(speaker)
            sizes[k] += counts[speaker]
        return [sorted(group) for group in groups]

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        speakers = _speakers(rows)
        if self.n_folds < 2:
            raise ValueError(f"data.split.n_folds must be >= 2, got {self.n_folds}")
        if not 0 < self.val_share < 1:
            raise ValueError(f"data.split.val_share must lie between 0 and 1, got {self.val_share}")
        if self.n_folds > len(speakers) - 2:
            raise SplitError(
                f"data.split: {len(speakers)} speaker(s) {speakers[:12]} cannot fill {self.n_folds} test folds, "
                "a validation and a training speaker; lower data.split.n_folds"
            )
        _check_fold(fold, self.n_folds)
        groups = self.groups(rows)
        counts = Counter(r.speaker for r in rows)
        rest = [s for g in [*groups[fold + 1 :], *groups[:fold]] for s in g]
        # Speakers in the order of the folds after this one, skipping those that would overfill validation,
        # so that a speaker holding a fold's worth of utterances is never spent on validation.
        val: list[str] = []
        for speaker in rest:
            if sum(counts[s] for s in val) + counts[speaker] <= self.val_share * len(rows):
                val.append(speaker)
        val = val or [min(rest, key=lambda s: (counts[s], s))]
        split = SpeakerSplit(tuple(s for s in rest if s not in val), tuple(val), tuple(groups[fold]))
        split.check()
        return split


@dataclass(frozen=True)
class LeaveOneSpeakerOut:
    """One fold per speaker: test on that speaker, validate on the next one(s) in sorted order."""

    n_val_speakers: int = 1

    def n_folds_for(self, rows: list[Utterance]) -> int:
        return len(_speakers(rows))

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        return SpeakerFolds(len(_speakers(rows)), self.n_val_speakers).split(rows, fold)


@dataclass(frozen=True)
class SessionFolds:
    """Leave one recording session out (IEMOCAP): validate on speakers of the next session."""

    n_val_speakers: int = 1

    def _sessions(self, rows: list[Utterance]) -> list[list[str]]:
        missing = sum(1 for r in rows if not r.session)
        if missing:
            raise ValueError(f"data.split: session folds need a session for every utterance; {missing} have none")
        by_session: dict[str, set[str]] = {}
        for r in rows:
            by_session.setdefault(r.session, set()).add(r.speaker)
        crossing = [s for s in _speakers(rows) if sum(s in v for v in by_session.values()) > 1]
        if crossing:
            raise SpeakerLeakError(
                f"speaker(s) {crossing[:5]} record in several sessions: session folds would leak them"
            )
        return [sorted(by_session[s]) for s in sorted(by_session)]

    def n_folds_for(self, rows: list[Utterance]) -> int:
        return len(self._sessions(rows))

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        sessions = self._sessions(rows)
        if len(sessions) < 2:
            raise ValueError(f"data.split: session folds need at least two sessions, found {len(sessions)}")
        _check_fold(fold, len(sessions))
        return _hold_out(sessions, fold, self.n_val_speakers)


@dataclass(frozen=True)
class CrossCorpus:
    """Test on whole corpora and train on the others. Validation speakers rotate with the fold: by default
    `n_val_speakers` of each training corpus (source-validated); with `target_val_speakers` > 0, that many
    labelled speakers of each test corpus move from test to validation instead (target-validated)."""

    test: Sequence[str] = field(default_factory=tuple)
    n_val_speakers: int = 1
    target_val_speakers: int = 0

    def _by_corpus(self, rows: list[Utterance]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """The speakers of each training corpus and of each test corpus."""
        corpora = sorted({r.corpus for r in rows})
        unknown = sorted(set(self.test) - set(corpora))
        if not self.test or unknown:
            raise ValueError(f"data.split.test must name test corpora among {corpora}; got {list(self.test)}")
        if self.target_val_speakers < 0:
            raise ValueError(f"data.split.target_val_speakers must be >= 0, got {self.target_val_speakers}")
        speakers = {c: _speakers([r for r in rows if r.corpus == c]) for c in corpora}
        training = {c: s for c, s in speakers.items() if c not in self.test}
        if not training:
            raise ValueError(f"data.split.test {list(self.test)} leaves no corpus to train on")
        testing = {c: s for c, s in speakers.items() if c in self.test}
        if self.target_val_speakers:
            few = {c: len(s) for c, s in testing.items() if len(s) <= self.target_val_speakers}
            if few:
                raise SplitError(
                    f"data.split.target_val_speakers={self.target_val_speakers} leaves no test speaker in {few} "
                    "(speakers per test corpus): lower it"
                )
        return training, testing

    def n_folds_for(self, rows: list[Utterance]) -> int:
        training, testing = self._by_corpus(rows)
        rotating = testing if self.target_val_speakers else training
        return min(len(s) for s in rotating.values())

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        training, testing = self._by_corpus(rows)
        _check_fold(fold, self.n_folds_for(rows))
        # Validation speakers come from each corpus of one role, so each such corpus has a say in model choice.
        if self.target_val_speakers:
            val, test = _rotate(testing, fold, self.target_val_speakers)
            train = [s for speakers in training.values() for s in speakers]
            mode = TARGET_VALIDATED
        else:
            val, train = _rotate(training, fold, self.n_val_speakers)
            test = [s for speakers in testing.values() for s in speakers]
            mode = SOURCE_VALIDATED
        split = SpeakerSplit(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)), mode)
        split.check()
        return split


def _rotate(by_corpus: Mapping[str, list[str]], fold: int, n: int) -> tuple[list[str], list[str]]:
    """From each corpus, the `n` speakers starting at position `fold` (wrapping round), and the others."""
    taken, rest = [], []
    for speakers in by_corpus.values():
        rotated = speakers[fold:] + speakers[:fold]
        taken += rotated[:n]
        rest += rotated[n:]
    return taken, rest


@dataclass(frozen=True)
class PerCorpusFolds:
    """Fold k of each corpus's own protocol, all at once: fold k tests on the speakers that each corpus tests on
    in its single-corpus fold k, and validates and trains on the rest of each corpus, so multi-corpus and
    single-corpus results pair fold by fold. Corpora without a protocol are refused; protocols for corpora
    absent from the data are unused."""

    protocols: Mapping[str, SplitProtocol] = field(default_factory=dict)

    def _members(self, rows: list[Utterance]) -> dict[str, list[Utterance]]:
        members = {c: [r for r in rows if r.corpus == c] for c in sorted({r.corpus for r in rows})}
        missing = [c for c in members if c not in self.protocols]
        if missing:
            raise SplitError(
                f"data.split.protocols has no protocol for corpus {missing[0]}: add one, e.g. "
                f"+data/split@data.split.protocols.{missing[0]}=speaker_folds"
            )
        return members

    def n_folds_for(self, rows: list[Utterance]) -> int:
        folds = {c: self.protocols[c].n_folds_for(part) for c, part in self._members(rows).items()}
        if len(set(folds.values())) > 1:
            raise SplitError(
                f"data.split.protocols give different numbers of folds {folds}: set the same n_folds for every corpus"
            )
        return next(iter(folds.values()))

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        _check_fold(fold, self.n_folds_for(rows))
        parts = []
        for corpus, part in self._members(rows).items():
            try:
                parts.append(self.protocols[corpus].split(part, fold))
            except ValueError as err:
                raise type(err)(f"corpus {corpus} (data.split.protocols.{corpus}): {err}") from err
        split = SpeakerSplit(
            tuple(s for p in parts for s in p.train),
            tuple(s for p in parts for s in p.val),
            tuple(s for p in parts for s in p.test),
        )
        split.check()
        return split
