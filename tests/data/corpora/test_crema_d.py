import logging

from serlab.data.corpora.crema_d import CremaD
from tests.conftest import write_tone


def _tree(root, demographics=True):
    for name in ["1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_TIE_SAD_LO", "1091_WSI_NEU_XX", "1002_DFA_XYZ_XX"]:
        write_tone(root / "AudioWAV" / f"{name}.wav")
    if demographics:
        (root / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
            "1002,21,Female,Caucasian,Not Hispanic\n1091,29,Female,Asian,Not Hispanic\n"
        )
    return root


def test_names_and_demographics(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        rows = {r.id: r for r in CremaD(_tree(tmp_path)).scan()}
    assert sorted(rows) == ["1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_TIE_SAD_LO", "1091_WSI_NEU_XX"]
    assert "ignored 1 file(s)" in caplog.text
    happy = rows["1001_IEO_HAP_HI"]
    assert (happy.label, happy.speaker, happy.gender, happy.text) == ("happy", "1001", "m", "IEO")
    assert happy.extra["level"] == "high" and happy.extra["age"] == "51"
    assert rows["1002_TIE_SAD_LO"].gender == "f"


def test_missing_demographics_leave_gender_empty_and_say_so(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        rows = CremaD(_tree(tmp_path, demographics=False)).scan()
    assert {r.gender for r in rows} == {""}
    assert "VideoDemographics.csv not found" in caplog.text
