import pytest

from serlab.data.corpora.table import ManifestCorpus
from tests.conftest import write_tone


def test_csv_with_relative_paths_and_extra_columns(tmp_path):
    write_tone(tmp_path / "audio" / "a.wav", seconds=0.5)
    write_tone(tmp_path / "audio" / "b.flac", seconds=0.25)
    (tmp_path / "list.csv").write_text("path,label,speaker,arousal\naudio/a.wav,joy,s1,0.7\naudio/b.flac,calm,s2,0.1\n")
    rows = ManifestCorpus(tmp_path / "list.csv").scan()
    assert [r.id for r in rows] == ["audio/a", "audio/b"]
    assert rows[0].path == tmp_path / "audio" / "a.wav" and rows[0].duration == pytest.approx(0.5)
    assert rows[0].extra == {"arousal": "0.7"} and rows[1].corpus == "manifest"


def test_tsv_is_recognised(tmp_path):
    write_tone(tmp_path / "a.wav")
    (tmp_path / "list.tsv").write_text("id\tpath\tlabel\tspeaker\tsession\nu1\ta.wav\tsad\tspk\tS1\n")
    (row,) = ManifestCorpus(tmp_path / "list.tsv").scan()
    assert (row.id, row.label, row.session) == ("u1", "sad", "S1")


@pytest.mark.parametrize(
    "text,message",
    [
        ("path,label\na.wav,sad\n", r"lacks the column\(s\) \['speaker'\]"),
        ("path,label,speaker\na.wav,,s1\n", "line 2: empty label"),
        ("id,path,label,speaker\nx,a.wav,sad,s1\nx,b.wav,sad,s1\n", r"repeated: \['x'\]"),
        ("path,label,speaker\n", "no rows"),
    ],
)
def test_bad_manifests_name_file_and_problem(tmp_path, text, message):
    (tmp_path / "list.csv").write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        ManifestCorpus(tmp_path / "list.csv").scan()
    assert str(tmp_path / "list.csv") in str(err.value)
