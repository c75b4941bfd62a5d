"""RAVDESS audio release: `Actor_XX/MM-VV-EE-II-SS-RR-AA.wav`, 24 actors, 8 emotions."""

from __future__ import annotations

import re
from pathlib import Path

from serlab.data.corpora.base import ReleaseCorpus, audio_duration
from serlab.data.manifest import Utterance

EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip
CHANNELS = {"01": "speech", "02": "song"}
NAME = re.compile(
    r"(?P<modality>0[1-3])-(?P<channel>0[12])-(?P<emotion>0[1-8])-(?P<intensity>0[12])"
    r"-(?P<statement>0[12])-(?P<repetition>0[12])-(?P<actor>\d\d)\.wav"
)


class RAVDESS(ReleaseCorpus):
    """RAVDESS speech (or song) audio; odd actor numbers are male, even female."""

    name = "ravdess"
    layout = "Actor_01/ .. Actor_24/ holding MM-VV-EE-II-SS-RR-AA.wav files, e.g. Actor_01/03-01-05-01-02-01-01.wav"
    pattern = "Actor_*/*.wav"

    def __init__(self, root: str | Path, vocal_channel: str = "speech") -> None:
        super().__init__(root)
        allowed = {"speech", "song", "both"}
        if vocal_channel not in allowed:
            raise ValueError(f"data.corpus.vocal_channel must be one of {sorted(allowed)}, got {vocal_channel!r}")
        self.vocal_channel = vocal_channel

    def keep(self, row: Utterance) -> bool:
        return self.vocal_channel in ("both", row.extra["channel"])

    def parse(self, path: Path) -> Utterance | None:
        code = NAME.fullmatch(path.name)
        # Modality 03 is audio-only; the folder must agree with the actor field of the name.
        if code is None or code["modality"] != "03" or path.parent.name != f"Actor_{code['actor']}":
            return None
        channel = CHANNELS[code["channel"]]
        actor = int(code["actor"])
        return Utterance(
            id=path.stem,
            path=path,
            label=EMOTIONS[code["emotion"]],
            speaker=f"{actor:02d}",
            gender="m" if actor % 2 else "f",
            text=code["statement"],
            duration=audio_duration(path),
            corpus=self.name,
            extra={
                "channel": channel,
                "intensity": "strong" if code["intensity"] == "02" else "normal",
                "repetition": code["repetition"],
            },
        )
