from serlab.data.corpora.emodb import EmoDB
from serlab.data.corpora.multi import MultiCorpus
from serlab.data.corpora.ravdess import RAVDESS
from serlab.data.splits import CrossCorpus
from tests.conftest import write_tone


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
