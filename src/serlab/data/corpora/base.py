"""What every corpus adapter provides, and the scanning every release-layout adapter shares."""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

import soundfile as sf

from serlab.data.checks import CorpusError
from serlab.data.manifest import Utterance
from serlab.errors import UserError

log = logging.getLogger(__name__)


@runtime_checkable
class Corpus(Protocol):
    """A source of labelled utterances on disk."""

    name: str
    caveat: str  # what a user should know when a split protocol cannot be built on it ("" if nothing)

    def prepare(self) -> None:
        """Make the corpus available on disk (for corpora the user brings: check that it is there)."""

    def scan(self) -> list[Utterance]:
        """Return one manifest row per usable utterance."""


class CorpusLayoutError(UserError, FileNotFoundError):
    """A root folder that does not hold the corpus in its release layout."""

    def __init__(self, root: Path, corpus: str, layout: str, found: str) -> None:
        super().__init__(f"{root}: {found}; data={corpus} expects {layout}")
        self.root = root


def audio_duration(path: Path) -> float:
    """Duration in seconds from the file header; 0.0 when the header cannot be read (checked at load)."""
    try:
        return sf.info(str(path)).duration
    except (sf.LibsndfileError, RuntimeError):
        return 0.0


class ReleaseCorpus:
    """A corpus read from its authors' release layout under `root`; subclasses parse one file name."""

    name = "corpus"
    layout = ""  # the expected layout, shown when a root does not hold it
    pattern = "**/*.wav"  # which files under root belong to the corpus
    caveat = ""  # what a user should know when a protocol cannot be built on this corpus

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def prepare(self) -> None:
        """Check that the root folder exists; a corpus the user brings is never downloaded."""
        if not self.root.is_dir():
            raise CorpusLayoutError(self.root, self.name, self.layout, "no such folder")

    def scan(self) -> list[Utterance]:
        """Parse every audio file of the layout; files that do not follow it are counted and reported."""
        self.prepare()
        self.read_metadata()
        files = sorted(self.root.glob(self.pattern))
        parsed = [self.parse(path) for path in files]
        ignored = [path for path, row in zip(files, parsed) if row is None]
        if ignored:
            log.warning(
                "data=%s: ignored %d file(s) under %s that do not follow %s, e.g. %s",
                self.name, len(ignored), self.root, self.layout, [str(p) for p in ignored[:3]],
            )
        rows = [row for row in parsed if row is not None and self.keep(row)]
        left_out = len(files) - len(ignored) - len(rows)
        if left_out:
            log.info("data=%s: the corpus options leave out %d utterance(s)", self.name, left_out)
        if not rows and left_out:
            raise CorpusError(
                f"data={self.name}: the corpus options leave out all {left_out} utterances under {self.root}"
            )
        if not rows:
            found = f"none of {len(files)} audio file(s) follow the layout" if files else self.inner_folder()
            raise CorpusLayoutError(self.root, self.name, self.layout, found or "no audio files found")
        return rows

    def inner_folder(self) -> str:
        """What to do when root is a folder inside the release (its `wav/`) rather than the release root,
        judged by the leading folders of `pattern`; empty when root is no such folder."""
        parts = PurePosixPath(self.pattern).parts
        root = self.root.absolute()
        for up in range(1, min(len(parts), len(root.parts))):
            inner = root.parts[-up:]
            if not all(fnmatchcase(name, part) for name, part in zip(inner, parts[:up])):
                continue
            found = sum(1 for _ in root.glob("/".join(parts[up:])))
            if found:
                where = "directly under" if len(parts) - up == 1 else "inside"
                release = "its parent" if up == 1 else f"the folder {up} levels up,"
                files = f"{found} {PurePosixPath(parts[-1]).suffix} files"
                return (
                    f"data.root is the release's {'/'.join(inner)}/ folder, not its root: found {files} {where} "
                    f"data.root; point data.root at {release} {root.parents[up - 1]}"
                )
        return ""

    def read_metadata(self) -> None:
        """Read the release's side files (labels, demographics) that `parse` looks up; none by default."""

    def keep(self, row: Utterance) -> bool:
        """Whether the corpus options (a subset, a channel) keep this utterance."""
        return True

    def parse(self, path: Path) -> Utterance | None:
        """One manifest row for `path`, or None when the file is not part of the corpus."""
        raise NotImplementedError

