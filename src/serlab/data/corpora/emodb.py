"""EmoDB (Berlin Database of Emotional Speech): `wav/SSTTTEV.wav`, 10 speakers, 7 emotions."""

from __future__ import annotations

import re
from pathlib import Path

from serlab.data.corpora.base import ReleaseCorpus, audio_duration
from serlab.data.manifest import Utterance

EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fearful", "F": "happy", "T": "sad", "N": "neutral"}
GENDERS = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f", "14": "f", "15": "m", "16": "f"}
NAME = re.compile(r"(?P<speaker>\d\d)(?P<text>[ab]\d\d)(?P<emotion>[WLEAFTN])(?P<version>[a-z])\.wav")


def read_perception(path: Path) -> dict[str, dict[str, str]]:
    """Listener recognition and naturalness (percent) per file from the release's `erkennung.txt`."""
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    table = {}
    for line in text.splitlines()[1:]:
        cells = [c.strip(" \t\xa0") for c in line.split("\t")]
        if len(cells) >= 4 and cells[1].endswith(".wav"):
            table[cells[1]] = {"recognition": cells[2].replace(",", "."), "naturalness": cells[3].replace(",", ".")}
    return table


class EmoDB(ReleaseCorpus):
    """EmoDB from its release folder (the one holding `wav/`), with the perception-test scores."""

    name = "emodb"
    layout = "wav/SSTTTEV.wav files (speaker, text, emotion letter W/L/E/A/F/T/N, version), e.g. wav/03a01Fa.wav"
    pattern = "wav/*.wav"

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.perception: dict[str, dict[str, str]] = {}

    def read_metadata(self) -> None:
        self.perception = read_perception(self.root / "erkennung.txt")

    def parse(self, path: Path) -> Utterance | None:
        code = NAME.fullmatch(path.name)
        if code is None or code["speaker"] not in GENDERS:
            return None
        return Utterance(
            id=path.stem,
            path=path,
            label=EMOTIONS[code["emotion"]],
            speaker=code["speaker"],
            gender=GENDERS[code["speaker"]],
            text=code["text"],
            duration=audio_duration(path),
            corpus=self.name,
            extra=self.perception.get(path.name, {}),
        )
