import pytest

from serlab.data.corpora.tess import TESS
from serlab.data.datamodule import SERDataModule
from serlab.data.splits import SpeakerFolds
from tests.conftest import write_tree


@pytest.fixture
def tess_tree(tmp_path):
    return write_tree(tmp_path, [
        "OAF_angry/OAF_back_angry", "OAF_Fear/OAF_dog_fear", "OAF_Pleasant_surprise/OAF_bath_ps",
        "YAF_pleasant_surprised/YAF_bath_ps", "YAF_neutral/YAF_dog_neutral", "YAF_sad/YAF_dog_bored",
    ])  # fmt: skip


def test_speakers_words_and_spellings_of_emotions(tess_tree):
    rows = {r.id: r for r in TESS(tess_tree).scan()}
    assert sorted(rows) == [
        "OAF_back_angry",
        "OAF_bath_surprised",
        "OAF_dog_fearful",
        "YAF_bath_surprised",
        "YAF_dog_neutral",
    ]
    assert {r.speaker for r in rows.values()} == {"OAF", "YAF"} and {r.gender for r in rows.values()} == {"f"}
    assert rows["OAF_dog_fearful"].text == "dog"


def test_a_speaker_independent_split_explains_why_it_cannot_exist(tess_tree):
    dm = SERDataModule(TESS(tess_tree), {"angry": "angry", "neutral": "neutral"}, SpeakerFolds(2, 1))
    with pytest.raises(ValueError, match="TESS has only two speakers"):
        dm.setup()
