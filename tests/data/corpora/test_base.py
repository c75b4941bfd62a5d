import pytest

from serlab.data.corpora.base import CorpusLayoutError
from serlab.data.corpora.emodb import EmoDB
from serlab.data.corpora.iemocap import IEMOCAP
from serlab.data.corpora.ravdess import RAVDESS
from serlab.errors import UserError
from tests.conftest import write_tree

PARENT = "directly under data.root; point data.root at its parent"


@pytest.mark.parametrize(
    "corpus,names,inner,where",
    [
        (EmoDB, ["wav/03a01Fa", "wav/08a02Wb", "wav/09b01Na"], "wav", PARENT),
        (RAVDESS, ["Actor_01/03-01-05-01-01-01-01", "Actor_01/03-01-03-01-01-01-01"], "Actor_01", PARENT),
        (IEMOCAP, ["Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000"], "Session1/sentences/wav",
         "inside data.root; point data.root at the folder 3 levels up,"),
    ],
)  # fmt: skip
def test_a_root_inside_the_release_names_the_release_root(tmp_path, corpus, names, inner, where):
    write_tree(tmp_path / "release", names)
    with pytest.raises(CorpusLayoutError) as err:
        corpus(tmp_path / "release" / inner).scan()
    assert isinstance(err.value, UserError)
    assert f"data.root is the release's {inner}/ folder, not its root: found {len(names)} .wav files {where} " \
        f"{tmp_path / 'release'}" in str(err.value)  # fmt: skip


def test_a_root_holding_unrelated_audio_gets_no_such_advice(tmp_path):
    write_tree(tmp_path / "sounds", ["03a01Fa", "08a02Wb"])
    with pytest.raises(CorpusLayoutError, match="no audio files found") as err:
        EmoDB(tmp_path / "sounds").scan()
    assert "point data.root" not in str(err.value)
