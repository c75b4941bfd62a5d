from dataclasses import replace

import pytest

from serlab.data.manifest import Utterance
from serlab.data.splits import (
    BalancedSpeakerFolds,
    CrossCorpus,
    LeaveOneSpeakerOut,
    PerCorpusFolds,
    SessionFolds,
    SpeakerFolds,
    SpeakerLeakError,
    SpeakerSplit,
    SplitError,
)


def _rows(n_speakers: int) -> list[Utterance]:
    return [Utterance(f"u{s}_{i}", f"/x/{s}_{i}.wav", "a", f"spk{s:02d}") for s in range(n_speakers) for i in range(2)]


@pytest.mark.parametrize("n_speakers,n_folds", [(10, 5), (10, 10), (7, 3), (6, 5)])
def test_every_speaker_is_tested_once_and_never_leaks(n_speakers, n_folds):
    rows = _rows(n_speakers)
    protocol = SpeakerFolds(n_folds=n_folds, n_val_speakers=1)
    tested = []
    for fold in range(n_folds):
        split = protocol.split(rows, fold)
        assert not set(split.train) & set(split.test)
        assert not set(split.val) & (set(split.train) | set(split.test))
        assert len(split.train) + len(split.val) + len(split.test) == n_speakers
        tested += split.test
    assert sorted(tested) == sorted({r.speaker for r in rows})
    sizes = [len(protocol.split(rows, f).test) for f in range(n_folds)]
    assert max(sizes) - min(sizes) <= 1


def test_leaky_split_is_refused():
    with pytest.raises(SpeakerLeakError, match="spk01"):
        SpeakerSplit(train=("spk00", "spk01"), val=("spk02",), test=("spk01",)).check()


def test_empty_side_is_refused():
    with pytest.raises(SpeakerLeakError, match="val"):
        SpeakerSplit(train=("a",), val=(), test=("b",)).check()


def test_fold_out_of_range_names_the_key():
    with pytest.raises(ValueError, match=r"data.fold must be in 0..4"):
        SpeakerFolds(n_folds=5).split(_rows(10), 5)


def test_too_few_speakers_names_the_key():
    with pytest.raises(ValueError, match="data.split"):
        SpeakerFolds(n_folds=5, n_val_speakers=4).split(_rows(5), 0)


def _uneven(counts: dict[str, int]) -> list[Utterance]:
    return [Utterance(f"{s}_{i}", f"/x/{s}_{i}.wav", "a", s) for s, n in counts.items() for i in range(n)]


def test_balanced_folds_hold_equal_utterances_where_contiguous_blocks_do_not():
    # one speaker holds a fold's worth of utterances, the others few: as in a talk-show corpus
    rows = _uneven({"a": 2, "b": 2, "c": 4, "d": 4, "e": 6, "f": 6, "g": 16})
    balanced = BalancedSpeakerFolds(n_folds=2, val_share=0.1)
    splits = [balanced.split(rows, k) for k in range(2)]
    per_speaker = {s: sum(r.speaker == s for r in rows) for s in "abcdefg"}
    held = [[sum(per_speaker[s] for s in side) for side in (sp.train, sp.val, sp.test)] for sp in splits]
    assert [sp.test for sp in splits] == [("d", "g"), ("a", "b", "c", "e", "f")]
    assert held == [[16, 4, 20], [16, 4, 20]]
    assert sorted(s for sp in splits for s in sp.test) == sorted(per_speaker)
    assert splits[1].val == ("d",)  # g, next in line, would hold more than val_share
    contiguous = [SpeakerFolds(2, 1).split(rows, k).test for k in range(2)]
    assert [sum(per_speaker[s] for s in t) for t in contiguous] != [20, 20]


def test_balanced_folds_refuse_impossible_settings_naming_the_key():
    with pytest.raises(SplitError, match="lower data.split.n_folds"):
        BalancedSpeakerFolds(n_folds=4).split(_rows(5), 0)
    with pytest.raises(ValueError, match="data.split.val_share"):
        BalancedSpeakerFolds(val_share=1.5).split(_rows(10), 0)
    with pytest.raises(ValueError, match=r"data.fold must be in 0..4"):
        BalancedSpeakerFolds().split(_rows(10), 5)


def test_leave_one_speaker_out_has_a_fold_per_speaker():
    rows = _rows(4)
    protocol = LeaveOneSpeakerOut()
    assert protocol.n_folds_for(rows) == 4
    assert [protocol.split(rows, f).test for f in range(4)] == [("spk00",), ("spk01",), ("spk02",), ("spk03",)]
    assert protocol.split(rows, 3).val == ("spk00",)
    with pytest.raises(ValueError, match=r"data.fold must be in 0..3, got 4"):
        protocol.split(rows, 4)


def test_session_folds_refuse_a_speaker_in_two_sessions():
    rows = [replace(r, session=f"S{i % 2}") for i, r in enumerate(_rows(3))]
    with pytest.raises(SpeakerLeakError, match="several sessions"):
        SessionFolds().split(rows, 0)


def test_session_folds_need_sessions():
    with pytest.raises(ValueError, match="need a session"):
        SessionFolds().split(_rows(3), 0)


def test_cross_corpus_needs_known_test_corpora():
    rows = [replace(r, corpus="a") for r in _rows(3)]
    with pytest.raises(ValueError, match=r"data.split.test must name test corpora among \['a'\]"):
        CrossCorpus(test=["b"]).split(rows, 0)
    with pytest.raises(ValueError, match="leaves no corpus to train on"):
        CrossCorpus(test=["a"]).split(rows, 0)


def _corpora(**speakers: int) -> list[Utterance]:
    return [replace(r, speaker=f"{c}/{r.speaker}", corpus=c) for c, n in speakers.items() for r in _rows(n)]


def test_cross_corpus_validates_on_source_speakers_by_default():
    split = CrossCorpus(test=["t"]).split(_corpora(s=3, t=4), 2)
    assert split.mode == "source-validated" and split.val == ("s/spk02",)
    assert split.test == ("t/spk00", "t/spk01", "t/spk02", "t/spk03")


def test_target_validated_cross_corpus_rotates_labelled_target_speakers_into_validation():
    rows = _corpora(s=3, t=4, u=5)
    protocol = CrossCorpus(test=["t", "u"], target_val_speakers=1)
    assert protocol.n_folds_for(rows) == 4  # the rotation runs over the smallest test corpus
    split = protocol.split(rows, 3)
    assert split.mode == "target-validated" and split.val == ("t/spk03", "u/spk03")
    assert split.train == ("s/spk00", "s/spk01", "s/spk02")
    assert split.test == ("t/spk00", "t/spk01", "t/spk02", "u/spk00", "u/spk01", "u/spk02", "u/spk04")
    assert [protocol.split(rows, k).val[0] for k in range(4)] == [f"t/spk0{k}" for k in range(4)]


def test_target_validation_must_leave_test_speakers():
    with pytest.raises(SplitError, match=r"data.split.target_val_speakers=4 leaves no test speaker in \{'t': 4\}"):
        CrossCorpus(test=["t"], target_val_speakers=4).split(_corpora(s=3, t=4), 0)
    with pytest.raises(ValueError, match="data.split.target_val_speakers must be >= 0, got -1"):
        CrossCorpus(test=["t"], target_val_speakers=-1).split(_corpora(s=3, t=4), 0)


def test_per_corpus_folds_join_each_corpus_fold_and_name_the_corpus_that_cannot_fill_it():
    rows = _corpora(a=10, b=6)
    protocol = PerCorpusFolds({"a": SpeakerFolds(5, 1), "b": SpeakerFolds(5, 1), "unused": LeaveOneSpeakerOut()})
    split = protocol.split(rows, 4)
    assert split.test == ("a/spk08", "a/spk09", "b/spk05") and split.val == ("a/spk00", "b/spk00")
    assert split.mode == "in-corpus"
    few = PerCorpusFolds({"a": SpeakerFolds(5, 1), "b": SpeakerFolds(5, 4)})
    with pytest.raises(SplitError, match=r"^corpus b \(data.split.protocols.b\): data.split: 6 speaker\(s\)"):
        few.split(rows, 0)
