import pytest

from serlab.data.labels import LabelMap
from serlab.data.manifest import Utterance


def test_unmapped_labels_are_dropped_and_counted():
    rows = [Utterance(str(i), "/x.wav", label, "s") for i, label in enumerate(["W", "N", "E", "E", "W"])]
    kept, dropped = LabelMap({"W": "angry", "N": "neutral"}).apply(rows)
    assert [r.label for r in kept] == ["angry", "neutral", "angry"]
    assert dropped == {"E": 2}


def test_classes_merge_labels_in_first_mention_order():
    assert LabelMap({"hap": "happy", "exc": "happy", "ang": "angry"}).classes == ["happy", "angry"]


def test_empty_map_is_refused():
    with pytest.raises(ValueError, match="data.label_map"):
        LabelMap({})
