import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serlab.data.corpora.synthetic import EMOTIONS, SyntheticCorpus
from tests.conftest import TINY


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((root / "wav").glob("*.wav")):
        h.update(path.read_bytes())
    return h.hexdigest()


def test_corpus_is_complete_and_balanced(data_dir):
    rows = SyntheticCorpus(data_dir / "synthetic", **TINY).scan()
    n_emotions = len(EMOTIONS)
    assert len(rows) == TINY["n_speakers"] * n_emotions * TINY["utterances_per_emotion"]
    assert set(Counter(r.label for r in rows).values()) == {TINY["n_speakers"] * TINY["utterances_per_emotion"]}
    assert {r.gender for r in rows} == {"f", "m"}
    assert len({r.id for r in rows}) == len(rows)
    for row in rows[:5]:
        audio, rate = sf.read(row.path)
        assert rate == 16000 and audio.ndim == 1
        assert abs(len(audio) / rate - row.duration) < 1e-6
        assert 0.5 < row.duration < 6.0
        assert np.abs(audio).max() < 1.0


def test_generation_is_deterministic_and_reused(tmp_path, data_dir):
    corpus = SyntheticCorpus(tmp_path / "again", **TINY)
    corpus.prepare()
    assert _digest(tmp_path / "again") == _digest(data_dir / "synthetic")
    stamp = (tmp_path / "again" / "manifest.csv").stat().st_mtime_ns
    corpus.prepare()  # same settings: nothing is regenerated
    assert (tmp_path / "again" / "manifest.csv").stat().st_mtime_ns == stamp


def test_changed_settings_regenerate(tmp_path):
    SyntheticCorpus(tmp_path / "c", n_speakers=2, utterances_per_emotion=1, n_sentences=1).prepare()
    changed = SyntheticCorpus(tmp_path / "c", n_speakers=2, utterances_per_emotion=2, n_sentences=1)
    assert not changed.is_ready()
    changed.prepare()
    assert len(changed.scan()) == 2 * len(EMOTIONS) * 2


def test_emotion_moves_prosody(data_dir):
    """Angry speech is louder than sad speech of the same speakers, as in real corpora."""
    rows = SyntheticCorpus(data_dir / "synthetic", **TINY).scan()

    def rms(label: str) -> float:
        return float(np.mean([np.sqrt(np.mean(sf.read(r.path)[0] ** 2)) for r in rows if r.label == label]))

    assert rms("angry") > 1.5 * rms("sad")


def test_unknown_emotion_is_refused(tmp_path):
    with pytest.raises(ValueError, match="data.corpus.emotions"):
        SyntheticCorpus(tmp_path, emotions=["neutral", "bored"])
