import csv
import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hydra.errors import InstantiationException

from serlab.cli.commands import user_message
from serlab.data.corpora.emodb import EmoDB
from serlab.data.corpora.multi import MembersError, MultiCorpus
from serlab.data.corpora.ravdess import RAVDESS
from serlab.data.corpora.urdu import URDU
from serlab.data.datamodule import SERDataModule
from serlab.data.splits import CrossCorpus, PerCorpusFolds, SpeakerFolds, SplitError
from serlab.training.build import build_datamodule
from tests.conftest import compose_train, run_cli, write_tone, write_tree
from tests.data.corpora.test_emodb_release import ROOT as EMODB_ROOT
from tests.data.corpora.test_urdu import ROOT as URDU_ROOT


def test_cross_corpus_tests_on_a_whole_corpus_and_keeps_speakers_apart(tmp_path):
    for name in ["03a01Fa", "08a01Wa", "09a01Na", "10a01Ta"]:
        write_tone(tmp_path / "emodb" / "wav" / f"{name}.wav")
    for actor in ("01", "02", "03"):
        write_tone(tmp_path / "ravdess" / f"Actor_{actor}" / f"03-01-05-01-01-01-{actor}.wav")
    corpus = MultiCorpus({"emodb": EmoDB(tmp_path / "emodb"), "ravdess": RAVDESS(tmp_path / "ravdess")})
    rows = corpus.scan()
    assert {r.corpus for r in rows} == {"emodb", "ravdess"}
    assert "emodb/03" in {r.speaker for r in rows} and "ravdess/01" in {r.speaker for r in rows}
    protocol = CrossCorpus(test=["ravdess"], n_val_speakers=1)
    assert protocol.n_folds_for(rows) == 4
    split = protocol.split(rows, fold=1)
    assert split.test == ("ravdess/01", "ravdess/02", "ravdess/03")
    assert split.val == ("emodb/08",) and split.train == ("emodb/03", "emodb/09", "emodb/10")


EMODB_SPEAKERS = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
# URDU speakers hold very different numbers of utterances, as in the release
URDU_COUNTS = {"SM1": 8, "SF2": 6, "SM3": 4, "SF4": 4, "SM5": 3, "SF6": 2, "SM7": 2, "SM8": 2, "SF9": 1}
MEMBERS = ("emodb", "urdu")
FOLDERS = {"A": "Angry", "H": "Happy", "N": "Neutral", "S": "Sad"}


@pytest.fixture
def trees(tmp_path):
    """An EmoDB tree (10 speakers, all 7 emotions) and an URDU tree (9 speakers, 1 to 8 utterances each)."""
    emodb = write_tree(tmp_path / "emodb", [f"wav/{s}a01{e}a" for s in EMODB_SPEAKERS for e in "WLEAFTN"])
    emotions = [(s, i, "AHNS"[i % 4]) for s, n in URDU_COUNTS.items() for i in range(n)]
    names = [f"{FOLDERS[e]}/{s}_F{i:02d}_{e}{i:03d}" for s, i, e in emotions]
    urdu = write_tree(tmp_path / "urdu", names)
    return emodb, urdu


def _multi(tmp_path, data_dir, emodb, urdu, *overrides: str) -> SERDataModule:
    cfg = compose_train(tmp_path, data_dir, "data=multi", f"data.roots.emodb={emodb}", f"data.roots.urdu={urdu}",
                        *overrides)  # fmt: skip
    return build_datamodule(cfg)


def test_the_members_are_the_corpora_whose_folder_is_given(tmp_path, data_dir, trees):
    dm = _multi(tmp_path, data_dir, *trees, "data.split.test=[urdu]")
    assert sorted(dm.corpus.corpora) == ["emodb", "urdu"]
    assert isinstance(dm.corpus.corpora["urdu"], URDU) and dm.classes == ["neutral", "happy", "angry", "sad"]
    dm.check()
    split = dm.speaker_split
    assert split.test == tuple(f"urdu/{s}" for s in sorted(URDU_COUNTS))
    assert {s.split("/")[0] for s in split.train + split.val} == {"emodb"}
    assert dm.split_summary()["mode"] == "source-validated"


def test_fewer_than_two_members_is_refused_naming_the_key(tmp_path, data_dir, trees):
    cfg = compose_train(tmp_path, data_dir, "data=multi", f"data.roots.urdu={trees[1]}", "data.split.test=[urdu]")
    with pytest.raises(InstantiationException) as err:
        build_datamodule(cfg)
    assert user_message(err.value) == (
        "data.roots: data=multi needs the folders of at least two corpora, got ['urdu']; give "
        "data.roots.<name>=/path for two or more of ['crema_d', 'emodb', 'iemocap', 'ravdess', 'tess', 'urdu']"
    )
    with pytest.raises(MembersError, match=r"^data.roots.urdu: no corpus adapter of that name; known: \['emodb'\]$"):
        MultiCorpus.from_roots({"emodb": EmoDB}, {"emodb": "/x", "urdu": "/y"})


def test_target_validated_cross_corpus_validates_on_urdu_speakers(tmp_path, data_dir, trees):
    dm = _multi(tmp_path, data_dir, *trees, "data.split.test=[urdu]", "data.split.target_val_speakers=2",
                "data.fold=1")  # fmt: skip
    dm.check()
    split, urdu = dm.speaker_split, [f"urdu/{s}" for s in sorted(URDU_COUNTS)]
    assert split.val == tuple(sorted(urdu[1:3])) and split.test == tuple(sorted(set(urdu) - set(urdu[1:3])))
    assert split.train == tuple(f"emodb/{s}" for s in EMODB_SPEAKERS)
    assert dm.n_folds() == len(URDU_COUNTS)
    summary = dm.split_summary()
    assert summary["mode"] == "target-validated" and summary["speakers"]["val"] == list(split.val)


@pytest.mark.parametrize("fold", range(5))
def test_per_corpus_folds_test_each_corpus_on_its_own_fold(tmp_path, data_dir, trees, fold):
    single = {name: (f"data={name}", f"data.root={root}", f"data.fold={fold}") for name, root in zip(MEMBERS, trees)}
    singles = {name: build_datamodule(compose_train(tmp_path, data_dir, *o)) for name, o in single.items()}
    multi = _multi(tmp_path, data_dir, *trees, "data/split=per_corpus_folds", f"data.fold={fold}")
    for dm in (*singles.values(), multi):
        dm.check()
    assert multi.n_folds() == 5
    for side in ("train", "val", "test"):
        paired = {f"{name}/{s}" for name, dm in singles.items() for s in dm.speaker_split.sides()[side]}
        assert set(multi.speaker_split.sides()[side]) == paired
    assert multi.split_summary()["mode"] == "in-corpus"


def test_per_corpus_folds_refuse_corpora_without_a_protocol_or_with_other_fold_counts(tmp_path, data_dir, trees):
    dm = _multi(tmp_path, data_dir, *trees, "data/split=per_corpus_folds", "data.split.protocols.urdu.n_folds=4")
    with pytest.raises(SplitError, match=r"protocols give different numbers of folds \{'emodb': 5, 'urdu': 4\}"):
        dm.check()
    rows = MultiCorpus({"emodb": EmoDB(trees[0]), "urdu": URDU(trees[1])}).scan()
    with pytest.raises(SplitError, match=r"no protocol for corpus urdu: add one, e.g. \+data/split@"):
        PerCorpusFolds({"emodb": SpeakerFolds()}).split(rows, 0)


def test_balance_corpora_draws_each_training_corpus_equally_often(tmp_path, data_dir, trees):
    def corpus_counts(*overrides: str) -> Counter:
        dm = _multi(tmp_path, data_dir, *trees, "data/split=per_corpus_folds", "data.batch_size=4", *overrides)
        dm.setup("fit")
        rows = dm.datasets["train"].rows
        return Counter(rows[d.index].corpus for batch in dm.train_dataloader().batch_sampler for d in batch)

    unbalanced = corpus_counts()
    assert unbalanced["emodb"] == 28 and unbalanced["urdu"] < 24
    assert corpus_counts("data.balance_corpora=true") == {"emodb": 28, "urdu": 28}


@pytest.fixture
def releases():
    """The real EmoDB and URDU releases."""
    if not (EMODB_ROOT / "wav").is_dir() or not (URDU_ROOT / "Angry").is_dir():
        missing = f"EmoDB or URDU not found at {EMODB_ROOT}, {URDU_ROOT} (set SERLAB_EMODB, SERLAB_URDU)"
        if os.environ.get("SERLAB_REQUIRE_CORPORA"):
            pytest.fail(missing)
        pytest.skip(missing)
    return EMODB_ROOT, URDU_ROOT


@pytest.mark.urdu
@pytest.mark.emodb
@pytest.mark.slow
def test_train_on_emodb_and_test_on_urdu_validating_on_two_urdu_speakers(tmp_path, releases):
    emodb, urdu = releases
    proc = run_cli(
        "serlab.cli.train", f"paths.root_dir={tmp_path}", "print_config=false", "data=multi",
        f"data.roots.emodb={emodb}", f"data.roots.urdu={urdu}", "data.split.test=[urdu]",
        "data.split.target_val_speakers=2", "data.fold=3", "debug=limit", cwd=tmp_path,
    )  # fmt: skip
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    sides: dict[str, set[str]] = {}
    for row in csv.DictReader((run / "split.csv").open()):
        sides.setdefault(row["split"], set()).add(row["speaker"])
    assert sides["val"] == {"urdu/SF2", "urdu/SF3"}  # URDU's speakers sorted by name: SF1, SF10, SF11, SF2, SF3, ...
    assert len(sides["test"]) == 27 and all(s.startswith("urdu/") for s in sides["test"])
    assert sides["train"] == {f"emodb/{s}" for s in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")}
    split = json.loads((run / "split.json").read_text())
    assert split["mode"] == "target-validated" and split["utterances"]["train"] == 339  # EmoDB's big four
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["classes"] == ["neutral", "happy", "angry", "sad"] and metrics["metrics"]["test/uar"] >= 0
