"""URDU (Urdu talk-show speech): `<Emotion>/SGX_FYY_EZZ.wav`, 29 speakers, 4 emotions, spontaneous speech."""

from __future__ import annotations

import re
from pathlib import Path

from serlab.data.corpora.base import ReleaseCorpus, audio_duration
from serlab.data.manifest import Utterance

# The folder of each emotion letter; a file whose letter and folder disagree is not trusted.
EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
FOLDERS = {"A": "Angry", "H": "Happy", "N": "Neutral", "S": "Sad"}
NAME = re.compile(r"(?P<speaker>S(?P<gender>[MF])\d+)_(?P<file>F\d+)_(?P<emotion>[AHNS])\d+\.wav")


class URDU(ReleaseCorpus):
    """URDU: utterances cut from Urdu television talk shows, the speaker and gender read from the file name."""

    name = "urdu"
    layout = (
        "Angry/ Happy/ Neutral/ Sad/ folders of SGX_FYY_EZZ.wav files (speaker with gender M/F, file number, "
        "emotion letter A/H/N/S), e.g. Angry/SM1_F10_A010.wav"
    )
    pattern = "*/*.wav"

    def inner_folder(self) -> str:
        # `*/` in the pattern would match any folder of audio; only the release's own folders get the hint.
        return super().inner_folder() if self.root.absolute().name in FOLDERS.values() else ""

    def parse(self, path: Path) -> Utterance | None:
        code = NAME.fullmatch(path.name)
        if code is None or path.parent.name != FOLDERS[code["emotion"]]:
            return None
        return Utterance(
            id=path.stem,
            path=path,
            label=EMOTIONS[code["emotion"]],
            speaker=code["speaker"],
            gender=code["gender"].lower(),
            duration=audio_duration(path),
            corpus=self.name,
            extra={"file": code["file"]},
        )
