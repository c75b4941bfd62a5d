import pytest

from serlab.data.corpora.ravdess import RAVDESS
from tests.conftest import write_tree


@pytest.fixture
def ravdess_tree(tmp_path):
    return write_tree(tmp_path, [
        "Actor_01/03-01-05-01-02-01-01", "Actor_01/03-01-01-01-01-02-01", "Actor_02/03-01-08-02-01-01-02",
        "Actor_02/03-02-03-02-02-01-02", "Actor_02/01-01-05-01-02-01-02", "Actor_03/03-01-04-01-01-01-02",
    ])  # fmt: skip


def test_speech_files_with_actor_gender_and_fields(ravdess_tree):
    rows = {r.id: r for r in RAVDESS(ravdess_tree).scan()}
    # song (channel 02), audio-video (modality 01) and an actor folder that disagrees are left out
    assert sorted(rows) == ["03-01-01-01-01-02-01", "03-01-05-01-02-01-01", "03-01-08-02-01-01-02"]
    angry = rows["03-01-05-01-02-01-01"]
    assert (angry.label, angry.speaker, angry.gender, angry.text) == ("angry", "01", "m", "02")
    surprised = rows["03-01-08-02-01-01-02"]
    assert (surprised.label, surprised.gender, surprised.extra["intensity"]) == ("surprised", "f", "strong")


@pytest.mark.parametrize("channel,n", [("song", 1), ("both", 4)])
def test_vocal_channel_option(ravdess_tree, channel, n):
    rows = RAVDESS(ravdess_tree, vocal_channel=channel).scan()
    assert len(rows) == n


def test_unknown_vocal_channel_is_refused(tmp_path):
    with pytest.raises(ValueError, match="data.corpus.vocal_channel"):
        RAVDESS(tmp_path, vocal_channel="opera")
