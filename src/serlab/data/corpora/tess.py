"""TESS (Toronto emotional speech set): `OAF_<emotion>/` and `YAF_<emotion>/` folders, two speakers."""

from __future__ import annotations

import re
from pathlib import Path

from serlab.data.corpora.base import ReleaseCorpus, audio_duration
from serlab.data.manifest import Utterance

# The release spells some emotions in more than one way (Fear/fear, ps/pleasant_surprise(d)).
EMOTIONS = {
    "angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy", "neutral": "neutral",
    "sad": "sad", "ps": "surprised", "pleasant_surprise": "surprised", "pleasant_surprised": "surprised",
}  # fmt: skip
NAME = re.compile(r"(?P<speaker>[OY]AF)_(?P<word>[A-Za-z]+)_(?P<emotion>[A-Za-z_]+)\.wav", re.IGNORECASE)


class TESS(ReleaseCorpus):
    """TESS: 200 words said by an older (OAF) and a younger (YAF) female speaker in 7 emotions."""

    name = "tess"
    layout = (
        "OAF_<emotion>/ and YAF_<emotion>/ folders of <speaker>_<word>_<emotion>.wav, e.g. OAF_angry/OAF_back_angry.wav"
    )
    pattern = "*AF_*/*.wav"
    caveat = (
        "TESS has only two speakers (OAF, YAF), so no split can keep train, validation and test "
        "speaker-independent; use TESS as a cross-corpus test set (data=multi) instead"
    )

    def parse(self, path: Path) -> Utterance | None:
        code = NAME.fullmatch(path.name)
        emotion = EMOTIONS.get(code["emotion"].lower()) if code else None
        if code is None or emotion is None:
            return None
        speaker = code["speaker"].upper()
        return Utterance(
            id=f"{speaker}_{code['word'].lower()}_{emotion}",
            path=path,
            label=emotion,
            speaker=speaker,
            gender="f",
            text=code["word"].lower(),
            duration=audio_duration(path),
            corpus=self.name,
            extra={"age_group": "older" if speaker == "OAF" else "younger"},
        )
