import pytest

from serlab.data.corpora.iemocap import IEMOCAP
from serlab.data.labels import LabelMap
from serlab.data.splits import SessionFolds
from tests.conftest import write_tone

HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
TURNS = {
    1: ("Ses01F_impro01", [("F000", "neu", "2.5000, 2.5000, 2.5000"), ("M000", "exc", "4.0000, 3.5000, 3.0000")]),
    2: ("Ses02M_script01_1", [("F003", "fru", "2.0000, 3.5000, 3.5000"), ("M001", "ang", "1.5000, 4.0000, 4.5000")]),
    3: ("Ses03F_impro02", [("F001", "sad", "1.0000, 2.0000, 2.0000"), ("M002", "hap", "4.5000, 3.0000, 3.0000")]),
}


@pytest.fixture
def iemocap_tree(tmp_path):
    for session, (dialog, turns) in TURNS.items():
        base = tmp_path / f"Session{session}"
        lines, words = [HEADER], []
        for k, (turn, emotion, vad) in enumerate(turns):
            name = f"{dialog}_{turn}"
            write_tone(base / "sentences" / "wav" / dialog / f"{name}.wav")
            lines += [f"[{k}.5000 - {k + 1}.2500]\t{name}\t{emotion}\t[{vad}]\n", f"C-E1:\t{emotion};\t()\n\n"]
            words.append(f"{name} [00{k}.5000-00{k + 1}.2500]: Words of turn {k}.\n")
        (base / "dialog" / "EmoEvaluation").mkdir(parents=True)
        (base / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("".join(lines))
        (base / "dialog" / "transcriptions").mkdir(parents=True)
        (base / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("".join(words))
    return tmp_path


def test_turns_get_speaker_session_labels_dimensions_and_words(iemocap_tree):
    rows = {r.id: r for r in IEMOCAP(iemocap_tree).scan()}
    assert len(rows) == 6
    first = rows["Ses01F_impro01_F000"]
    assert (first.label, first.speaker, first.gender, first.session) == ("neutral", "Ses01F", "f", "Session1")
    assert first.text == "Words of turn 0."
    # the speaker is the gender letter of the turn, not of the dialog's name
    angry = rows["Ses02M_script01_1_M001"]
    assert (angry.speaker, angry.extra["dialog"]) == ("Ses02M", "scripted")
    assert (angry.extra["valence"], angry.extra["arousal"], angry.extra["dominance"]) == ("1.5000", "4.0000", "4.5000")


def test_big_four_merges_excited_into_happy_and_counts_the_rest(iemocap_tree):
    mapping = {"neutral": "neutral", "happy": "happy", "excited": "happy", "angry": "angry", "sad": "sad"}
    kept, dropped = LabelMap(mapping).apply(IEMOCAP(iemocap_tree).scan())
    assert sorted(r.label for r in kept) == ["angry", "happy", "happy", "neutral", "sad"]
    assert dropped == {"frustrated": 1}


def test_improvised_only_and_session_folds(iemocap_tree):
    assert {r.extra["dialog"] for r in IEMOCAP(iemocap_tree, improvised_only=True).scan()} == {"improvised"}
    rows = IEMOCAP(iemocap_tree).scan()
    split = SessionFolds(n_val_speakers=1).split(rows, fold=1)
    assert split.test == ("Ses02F", "Ses02M") and split.val == ("Ses03F",)
    assert set(split.train) == {"Ses01F", "Ses01M", "Ses03M"}
