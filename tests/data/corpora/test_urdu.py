"""URDU on a fake release folder, and on the real release (../shared/data/urdu, or $SERLAB_URDU)."""

import json
import logging
import os
from collections import Counter
from pathlib import Path

import pytest

from serlab.data.corpora.base import CorpusLayoutError
from serlab.data.corpora.urdu import URDU
from serlab.data.splits import BalancedSpeakerFolds
from serlab.training.build import build_datamodule
from tests.conftest import compose_train, run_cli, write_tree

ROOT = Path(os.environ.get("SERLAB_URDU", Path(__file__).resolve().parents[4] / "shared" / "data" / "urdu"))
BIG_FOUR = ["neutral", "happy", "angry", "sad"]


@pytest.fixture
def urdu_tree(tmp_path):
    return write_tree(tmp_path / "urdu", [
        "Angry/SM1_F10_A010", "Happy/SF11_F02_H031", "Neutral/SM27_F01_N100", "Sad/SM1_F11_S004",
        "Sad/SF2_F01_A001",  # the letter says angry, the folder sad
        "Happy/notes",
    ])  # fmt: skip


def test_speaker_gender_and_emotion_come_from_the_file_name(urdu_tree, caplog):
    with caplog.at_level(logging.WARNING):
        rows = {r.id: r for r in URDU(urdu_tree).scan()}
    assert sorted(rows) == ["SF11_F02_H031", "SM1_F10_A010", "SM1_F11_S004", "SM27_F01_N100"]
    happy = rows["SF11_F02_H031"]
    assert (happy.label, happy.speaker, happy.gender, happy.corpus) == ("happy", "SF11", "f", "urdu")
    assert happy.extra == {"file": "F02"} and happy.duration == pytest.approx(0.25)
    assert [(r.label, r.speaker, r.gender) for r in (rows["SM1_F10_A010"], rows["SM27_F01_N100"])] == [
        ("angry", "SM1", "m"), ("neutral", "SM27", "m"),
    ]  # fmt: skip
    assert "ignored 2 file(s)" in caplog.text and "SF2_F01_A001" in caplog.text


def test_a_root_inside_the_release_names_the_release_root(urdu_tree):
    with pytest.raises(CorpusLayoutError) as err:
        URDU(urdu_tree / "Angry").scan()
    assert "data.root is the release's Angry/ folder, not its root: found 1 .wav files directly under data.root; " \
        f"point data.root at its parent {urdu_tree}" in str(err.value)  # fmt: skip


def test_a_folder_of_other_audio_gets_the_layout_and_no_advice(tmp_path):
    write_tree(tmp_path / "sounds", ["a", "b"])
    with pytest.raises(CorpusLayoutError, match="no audio files found; data=urdu expects Angry/ Happy/") as err:
        URDU(tmp_path / "sounds").scan()
    assert "point data.root" not in str(err.value)


def test_data_option_gives_the_big_four_in_emodbs_order_and_balanced_folds(tmp_path, data_dir, urdu_tree):
    cfg = compose_train(tmp_path, data_dir, "data=urdu", f"data.root={urdu_tree}")
    dm = build_datamodule(cfg)
    assert isinstance(dm.corpus, URDU) and dm.classes == BIG_FOUR
    assert dm.protocol == BalancedSpeakerFolds(n_folds=5, val_share=0.1)


def test_emodb_on_the_big_four_drops_and_reports_its_other_classes(tmp_path, data_dir, caplog):
    names = [f"wav/{s}a01{e}a" for s in ("03", "08", "09", "10") for e in "WLEAFTN"]
    root = write_tree(tmp_path / "emodb", names)
    cfg = compose_train(tmp_path, data_dir, "data=emodb", "data/label_map=big_four", f"data.root={root}",
                        "data.split.n_folds=4")  # fmt: skip
    dm = build_datamodule(cfg)
    with caplog.at_level(logging.WARNING):
        dm.check()
    assert dm.classes == BIG_FOUR and Counter(r.label for r in dm.rows) == dict.fromkeys(BIG_FOUR, 4)
    assert dm.split_summary()["dropped_labels"] == {"boredom": 4, "disgust": 4, "fearful": 4}
    assert "label map dropped 12 utterance(s) with unmapped labels" in caplog.text


@pytest.fixture
def release():
    if not (ROOT / "Angry").is_dir():
        if os.environ.get("SERLAB_REQUIRE_CORPORA"):
            pytest.fail(f"URDU not found at {ROOT} (set SERLAB_URDU)")
        pytest.skip(f"URDU not found at {ROOT} (set SERLAB_URDU)")
    return ROOT


@pytest.mark.urdu
def test_the_real_release_reads_with_the_documented_counts(tmp_path, data_dir, release):
    dm = build_datamodule(compose_train(tmp_path, data_dir, "data=urdu", f"data.root={release}"))
    dm.check()
    rows = dm.rows
    assert len(rows) == 400 and not dm.dropped and Counter(r.label for r in rows) == dict.fromkeys(BIG_FOUR, 100)
    speakers = Counter(r.speaker for r in rows)
    assert len(speakers) == 29 and min(speakers.values()) == 2
    assert {s: speakers[s] for s in ("SM5", "SM4", "SM25", "SM24", "SM2", "SM7", "SM1")} == {
        "SM5": 80, "SM4": 48, "SM25": 40, "SM24": 38, "SM2": 28, "SM7": 28, "SM1": 22,
    }  # fmt: skip
    assert Counter(r.gender for r in {r.speaker: r for r in rows}.values()) == {"m": 18, "f": 11}
    assert all(r.duration > 0 for r in rows)
    splits = [dm.protocol.split(rows, k) for k in range(5)]
    assert sorted(s for split in splits for s in split.test) == sorted(speakers)
    sizes = [[sum(speakers[s] for s in side) for side in (split.train, split.val, split.test)] for split in splits]
    assert sizes == [[280, 40, 80]] * 5
    assert splits[0].test == ("SM5",) and "SM5" not in splits[4].val


@pytest.mark.urdu
@pytest.mark.slow
def test_train_on_the_real_release_records_the_balanced_fold(tmp_path, release):
    proc = run_cli(
        "serlab.cli.train", f"paths.root_dir={tmp_path}", "print_config=false", "data=urdu", f"data.root={release}",
        "data.fold=4", "debug=limit", cwd=tmp_path,
    )  # fmt: skip
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    split = json.loads((run / "split.json").read_text())
    assert split["speakers"]["test"] == ["SF4", "SM17", "SM2", "SM26", "SM27", "SM3", "SM7"]
    assert split["utterances"] == {"train": 280, "val": 40, "test": 80}
    assert json.loads((run / "metrics.json").read_text())["metrics"]["test/uar"] >= 0
