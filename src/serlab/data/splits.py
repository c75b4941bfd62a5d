"""Speaker-independent splits: every speaker sits in exactly one of train, val and test."""

from __future__ import annotations

from dataclasses import dataclass

from serlab.data.manifest import Utterance


class SpeakerLeakError(ValueError):
    """A speaker appears on more than one side of a split."""


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

    def side_of(self, speaker: str) -> str | None:
        """The split a speaker belongs to, or None if it is in none."""
        for name in ("train", "val", "test"):
            if speaker in getattr(self, name):
                return name
        return None


@dataclass(frozen=True)
class SpeakerFolds:
    """k folds over sorted speakers; fold k tests on block k and validates on the next speakers."""

    n_folds: int = 5
    n_val_speakers: int = 1

    def split(self, rows: list[Utterance], fold: int) -> SpeakerSplit:
        """Assign every speaker of `rows` to train, val or test for `fold`."""
        speakers = sorted({r.speaker for r in rows})
        if self.n_folds < 2:
            raise ValueError(f"data.split.n_folds must be >= 2, got {self.n_folds}")
        largest_test = -(-len(speakers) // self.n_folds)
        if self.n_folds > len(speakers) or len(speakers) - largest_test - self.n_val_speakers < 1:
            raise ValueError(
                f"data.split: {len(speakers)} speakers cannot fill {self.n_folds} test folds, "
                f"{self.n_val_speakers} validation speaker(s) and at least one training speaker"
            )
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"data.fold must be in 0..{self.n_folds - 1}, got {fold}")
        # Contiguous blocks whose sizes differ by at most one speaker.
        bounds = [round(i * len(speakers) / self.n_folds) for i in range(self.n_folds + 1)]
        test = speakers[bounds[fold] : bounds[fold + 1]]
        rest = speakers[bounds[fold + 1] :] + speakers[: bounds[fold]]
        val, train = rest[: self.n_val_speakers], rest[self.n_val_speakers :]
        split = SpeakerSplit(tuple(train), tuple(val), tuple(test))
        split.check()
        return split
