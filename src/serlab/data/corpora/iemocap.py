"""IEMOCAP full release: `SessionN/sentences/wav/<dialog>/<turn>.wav`, labels in `dialog/EmoEvaluation`."""

from __future__ import annotations

import re
from pathlib import Path

from serlab.data.corpora.base import ReleaseCorpus, audio_duration
from serlab.data.manifest import Utterance

EMOTIONS = {
    "neu": "neutral", "hap": "happy", "exc": "excited", "ang": "angry", "sad": "sad", "fru": "frustrated",
    "sur": "surprised", "fea": "fearful", "dis": "disgust", "oth": "other", "xxx": "no_agreement",
}  # fmt: skip
# "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]" (valence, activation, dominance)
EVALUATION = re.compile(
    r"\[(?P<start>[\d.]+) - (?P<end>[\d.]+)\]\s+(?P<turn>Ses\d\d[FM]_\S+)\s+(?P<emotion>\w+)"
    r"\s+\[(?P<valence>[\d.]+), (?P<arousal>[\d.]+), (?P<dominance>[\d.]+)\]"
)
TRANSCRIPT = re.compile(r"(?P<turn>Ses\d\d[FM]_\S+) \[[\d.\-]+\]: (?P<text>.*)")


def read_evaluations(root: Path) -> dict[str, dict[str, str]]:
    """Consensus emotion and mean arousal/valence/dominance of every turn, from all sessions."""
    labels = {}
    for path in sorted(root.glob("Session[1-5]/dialog/EmoEvaluation/*.txt")):
        for line in path.read_text(errors="replace").splitlines():
            found = EVALUATION.match(line)
            if found:
                labels[found["turn"]] = found.groupdict()
    return labels


def read_transcripts(root: Path) -> dict[str, str]:
    """The words of every turn, from `dialog/transcriptions`."""
    words = {}
    for path in sorted(root.glob("Session[1-5]/dialog/transcriptions/*.txt")):
        for line in path.read_text(errors="replace").splitlines():
            found = TRANSCRIPT.match(line)
            if found:
                words[found["turn"]] = found["text"].strip()
    return words


class IEMOCAP(ReleaseCorpus):
    """IEMOCAP's five sessions; the speaker of a turn is its session plus the gender letter of the turn."""

    name = "iemocap"
    layout = (
        "Session1/ .. Session5/ each with sentences/wav/<dialog>/<turn>.wav and dialog/EmoEvaluation/<dialog>.txt, "
        "e.g. Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    )
    pattern = "Session[1-5]/sentences/wav/*/*.wav"

    def __init__(self, root: str | Path, improvised_only: bool = False) -> None:
        super().__init__(root)
        self.improvised_only = improvised_only
        self.labels: dict[str, dict[str, str]] = {}
        self.transcripts: dict[str, str] = {}

    def read_metadata(self) -> None:
        self.labels = read_evaluations(self.root)
        self.transcripts = read_transcripts(self.root)

    def keep(self, row: Utterance) -> bool:
        return not self.improvised_only or row.extra["dialog"] == "improvised"

    def parse(self, path: Path) -> Utterance | None:
        label = self.labels.get(path.stem)
        if label is None or label["emotion"] not in EMOTIONS:
            return None
        turn = path.stem
        session = int(turn[3:5])
        gender = turn.rsplit("_", 1)[1][0]
        return Utterance(
            id=turn,
            path=path,
            label=EMOTIONS[label["emotion"]],
            speaker=f"Ses{session:02d}{gender}",
            gender=gender.lower(),
            text=self.transcripts.get(turn, ""),
            duration=audio_duration(path),
            session=f"Session{session}",
            corpus=self.name,
            extra={
                "arousal": label["arousal"],
                "valence": label["valence"],
                "dominance": label["dominance"],
                "dialog": "improvised" if "_impro" in turn else "scripted",
            },
        )
