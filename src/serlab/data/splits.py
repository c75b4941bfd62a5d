"""Speaker-independent protocols: every speaker sits in exactly one of train, val and test."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from serlab.data.manifest import Utterance
from serlab.errors import UserError


class SpeakerLeakError(ValueError):
    """A speaker appears on more than one side of a split."""


class SplitError(UserError, ValueError):
    """A split protocol whose settings the corpus cannot satisfy."""


@dataclass(frozen=True)
class SpeakerSplit:
    """Which speakers form train, val and test."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

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
    """Test on whole corpora; train and validate on the others, validation speakers rotating with the fold."""

    test: Sequence[str] = field(default_factory=tuple)
    n_val_speakers: int = 1

    def _train_speakers(self, rows: list[Utterance]) -> dict[str, list[str]]:
        corpora = sorted({r.corpus for r in rows})
        unknown = sorted(set(self.test) - set(corpora))
        if not self.test or unknown:
            raise ValueError(f"data.split.test must name test corpora among {corpora}; got {list(self.test)}")
        training = {c: _speakers([r for r in rows if r.corpus == c]) for c in corpora if c not in self.test}
        if not training:
            raise ValueError(f"data.split.test {list(self.test)} leaves no corpus to train on")
        return training

    def n_folds_for(self, rows: list[Utterance]) -> int:
        return min(len(s) for s in self._train_speakers(rows).values())

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        training = self._train_speakers(rows)
        _check_fold(fold, self.n_folds_for(rows))
        val, train = [], []
        for speakers in training.values():
            # n_val_speakers per training corpus, so each corpus has a say in model choice.
            rotated = speakers[fold:] + speakers[:fold]
            val += rotated[: self.n_val_speakers]
            train += rotated[self.n_val_speakers :]
        test = _speakers([r for r in rows if r.corpus in self.test])
        split = SpeakerSplit(tuple(sorted(train)), tuple(sorted(val)), tuple(test))
        split.check()
        return split
