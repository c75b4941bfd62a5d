"""Integration tests on the real EmoDB release (../shared/data/emodb, or $SERLAB_EMODB)."""

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from serlab.data.audio import AudioSettings
from serlab.data.cache import AudioCache
from serlab.data.corpora.emodb import EmoDB
from serlab.data.dataset import AudioDataset
from serlab.data.splits import LeaveOneSpeakerOut, SpeakerFolds
from tests.conftest import run_cli

ROOT = Path(os.environ.get("SERLAB_EMODB", Path(__file__).resolve().parents[4] / "shared" / "data" / "emodb"))

pytestmark = pytest.mark.emodb


@pytest.fixture(scope="module")
def rows():
    if not (ROOT / "wav").is_dir():
        if os.environ.get("SERLAB_REQUIRE_CORPORA"):
            pytest.fail(f"EmoDB not found at {ROOT} (set SERLAB_EMODB)")
        pytest.skip(f"EmoDB not found at {ROOT} (set SERLAB_EMODB)")
    return EmoDB(ROOT).scan()


def test_every_file_is_read_with_the_documented_counts(rows):
    assert len(rows) == 535
    assert Counter(r.label for r in rows) == {
        "angry": 127, "boredom": 81, "neutral": 79, "happy": 71, "fearful": 69, "sad": 62, "disgust": 46,
    }  # fmt: skip
    assert Counter(r.speaker for r in rows) == {
        "03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69, "15": 56, "16": 71,
    }  # fmt: skip
    assert Counter(r.gender for r in {r.speaker: r for r in rows}.values()) == {"m": 5, "f": 5}
    assert len({r.text for r in rows}) == 10
    assert all(r.extra.get("recognition") for r in rows)


def test_the_quoted_protocols(rows):
    pairs = [SpeakerFolds(5, 1).split(rows, k).test for k in range(5)]
    assert pairs == [("03", "08"), ("09", "10"), ("11", "12"), ("13", "14"), ("15", "16")]
    loso = LeaveOneSpeakerOut()
    assert loso.n_folds_for(rows) == 10 and loso.split(rows, 9).test == ("16",)


def test_all_audio_decodes_with_the_documented_durations(rows, tmp_path):
    data = AudioDataset(rows, sorted({r.label for r in rows}), AudioCache(tmp_path, AudioSettings()).load)
    seconds = [len(w) / 16000 for w in data.waveforms]
    assert not data.skipped and len(seconds) == 535
    assert min(seconds) >= 1.2 and max(seconds) <= 9.0 and sum(seconds) == pytest.approx(1487, abs=1)


@pytest.mark.slow
def test_train_on_speaker_fold_0_records_the_speakers(rows, tmp_path):
    proc = run_cli(
        "serlab.cli.train",
        f"paths.root_dir={tmp_path}",
        "print_config=false",
        "data=emodb",
        f"data.root={ROOT}",
        "debug=limit",
        cwd=tmp_path,
    )
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    split = json.loads((run / "split.json").read_text())
    assert split["speakers"] == {
        "train": ["10", "11", "12", "13", "14", "15", "16"],
        "val": ["09"],
        "test": ["03", "08"],
    }
    assert split["utterances"] == {"train": 385, "val": 43, "test": 107}
    assert json.loads((run / "metrics.json").read_text())["metrics"]["test/uar"] >= 0
