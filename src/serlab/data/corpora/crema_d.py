"""CREMA-D: `AudioWAV/AAAA_SSS_EEE_LL.wav`, 91 actors, 6 emotions, demographics in `VideoDemographics.csv`."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from serlab.data.corpora.base import ReleaseCorpus, audio_duration
from serlab.data.manifest import Utterance

log = logging.getLogger(__name__)

EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
NAME = re.compile(r"(?P<actor>1\d{3})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>LO|MD|HI|XX)\.wav")


def read_demographics(path: Path) -> dict[str, dict[str, str]]:
    """Age, sex, race and ethnicity per actor id from the release's demographics table."""
    if not path.is_file():
        log.warning("data=crema_d: %s not found, so speakers have no gender", path)
        return {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        return {row["ActorID"].strip(): row for row in csv.DictReader(f) if row.get("ActorID")}


class CremaD(ReleaseCorpus):
    """CREMA-D audio with each actor's sex from `VideoDemographics.csv` at the release root."""

    name = "crema_d"
    layout = "AudioWAV/AAAA_SSS_EEE_LL.wav files (actor, sentence, emotion, level), e.g. AudioWAV/1001_DFA_ANG_XX.wav"
    pattern = "AudioWAV/*.wav"

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.demographics: dict[str, dict[str, str]] = {}

    def read_metadata(self) -> None:
        self.demographics = read_demographics(self.root / "VideoDemographics.csv")

    def parse(self, path: Path) -> Utterance | None:
        code = NAME.fullmatch(path.name)
        if code is None or code["emotion"] not in EMOTIONS:
            return None
        person = self.demographics.get(code["actor"], {})
        sex = (person.get("Sex") or "").strip().lower()
        return Utterance(
            id=path.stem,
            path=path,
            label=EMOTIONS[code["emotion"]],
            speaker=code["actor"],
            gender=sex[:1] if sex in ("male", "female") else "",
            text=code["sentence"],
            duration=audio_duration(path),
            corpus=self.name,
            extra={
                "level": LEVELS[code["level"]],
                "age": (person.get("Age") or "").strip(),
                "race": (person.get("Race") or "").strip(),
                "ethnicity": (person.get("Ethnicity") or "").strip(),
            },
        )
