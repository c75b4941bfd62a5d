from pathlib import Path

import pytest

from serlab.data.manifest import Utterance, read_manifest, write_manifest
from serlab.errors import UserError


def test_round_trip_with_relative_paths(tmp_path):
    rows = [Utterance("a", tmp_path / "wav" / "a.wav", "happy", "s1", "f", "t01", 1.5)]
    write_manifest(rows, tmp_path / "manifest.csv", relative_to=tmp_path)
    assert "wav/a.wav" in (tmp_path / "manifest.csv").read_text()
    assert read_manifest(tmp_path / "manifest.csv") == rows


def test_missing_columns_are_named(tmp_path):
    (tmp_path / "m.csv").write_text("id,path\nx,x.wav\n")
    with pytest.raises(ValueError, match=r"m.csv: manifest lacks the column\(s\) \['label', 'speaker'\]"):
        read_manifest(Path(tmp_path / "m.csv"))


def test_manifest_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")
    (tmp_path / "m.csv").write_text("path,label,speaker\na.wav,happy,\n")
    with pytest.raises(UserError, match=r"m.csv line 2: empty speaker"):
        read_manifest(tmp_path / "m.csv")
