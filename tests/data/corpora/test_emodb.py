import logging

import pytest

from serlab.data.corpora.base import CorpusLayoutError
from serlab.data.corpora.emodb import EmoDB
from tests.conftest import write_tone


@pytest.fixture
def emodb_tree(tmp_path):
    for name in ["03a01Fa", "03a01Wa", "08b10Tc", "16a05Ld", "11b03Ab", "13a02Eb", "09a04Nd"]:
        write_tone(tmp_path / "wav" / f"{name}.wav")
    write_tone(tmp_path / "wav" / "99a01Fa.wav")  # no such speaker
    write_tone(tmp_path / "wav" / "notes.wav")
    (tmp_path / "erkennung.txt").write_bytes(
        "Nr.\tSatz\terkannt\tnatuerlich\n1\xa0\t03a01Fa.wav\t90,00\xa0\t75,00\xa0\n".encode("latin-1")
    )
    return tmp_path


def test_file_names_give_speaker_emotion_text_and_gender(emodb_tree, caplog):
    with caplog.at_level(logging.WARNING):
        rows = {r.id: r for r in EmoDB(emodb_tree).scan()}
    assert sorted(rows) == ["03a01Fa", "03a01Wa", "08b10Tc", "09a04Nd", "11b03Ab", "13a02Eb", "16a05Ld"]
    assert [rows[i].label for i in ("03a01Fa", "03a01Wa", "08b10Tc", "16a05Ld", "11b03Ab", "13a02Eb", "09a04Nd")] == [
        "happy", "angry", "sad", "boredom", "fearful", "disgust", "neutral",
    ]  # fmt: skip
    assert (rows["03a01Fa"].speaker, rows["03a01Fa"].gender, rows["03a01Fa"].text) == ("03", "m", "a01")
    assert rows["08b10Tc"].gender == "f" and rows["08b10Tc"].corpus == "emodb"
    assert rows["03a01Fa"].duration == pytest.approx(0.25)
    assert rows["03a01Fa"].extra == {"recognition": "90.00", "naturalness": "75.00"}
    assert "ignored 2 file(s)" in caplog.text


def test_a_root_without_the_layout_names_the_expected_one(tmp_path):
    write_tone(tmp_path / "audio" / "03a01Fa.wav")
    with pytest.raises(CorpusLayoutError, match=r"no audio files found; data=emodb expects wav/SSTTTEV.wav"):
        EmoDB(tmp_path).scan()
    with pytest.raises(CorpusLayoutError, match="no such folder"):
        EmoDB(tmp_path / "missing").scan()
