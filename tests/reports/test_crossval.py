"""Cross-validation summaries and reports from run folders."""

import base64
import json
import re

import pytest

from serlab.records import write_csv, write_json
from serlab.reports.crossval import CVSummary, read_fold_run
from serlab.reports.render import write_report

CLASSES = ["neutral", "angry"]
# fold -> test speakers (speaker, gender) with (label, predicted) per utterance
FOLDS = {
    0: {("a", "f"): [("neutral", "neutral"), ("angry", "angry")], ("b", "m"): [("neutral", "angry"), ("angry", "angry")]},
    1: {("c", "f"): [("neutral", "neutral"), ("angry", "angry")], ("d", "m"): [("neutral", "neutral"), ("angry", "angry")]},
}


def fake_run(folder, fold, uar):
    """A run folder as serlab-train leaves it, with the test utterances of `fold`."""
    split, preds = [], []
    for (speaker, gender), pairs in FOLDS[fold].items():
        for i, (label, predicted) in enumerate(pairs):
            uid = f"{speaker}{i}"
            split.append({"id": uid, "speaker": speaker, "gender": gender, "label": label, "split": "test"})
            preds.append({"id": uid, "label": label, "predicted": predicted})
    folder.mkdir(parents=True)
    write_csv(split, ["id", "speaker", "gender", "label", "split"], folder / "split.csv")
    write_csv(preds, ["id", "label", "predicted"], folder / "predictions.csv")
    write_json({"metrics": {"test/uar": uar, "test/war": uar, "test/f1": uar}, "classes": CLASSES}, folder / "metrics.json")
    return folder


@pytest.fixture
def summary(tmp_path):
    runs = [(0, 1, 0.70), (0, 2, 0.80), (1, 1, 0.50), (1, 2, 0.60)]
    return CVSummary([read_fold_run(fake_run(tmp_path / f"{f}_{s}", f, u), f, s) for f, s, u in runs])


def test_mean_and_std_are_taken_over_folds_after_averaging_seeds(summary):
    assert summary.fold_metric("uar") == pytest.approx({0: 0.75, 1: 0.55})
    mean, std = summary.over_folds("uar")
    assert mean == pytest.approx(0.65) and std == pytest.approx(0.1414, abs=1e-4)
    mean, std = summary.over_seeds("uar")  # seed 1: (0.7 + 0.5) / 2, seed 2: (0.8 + 0.6) / 2
    assert mean == pytest.approx(0.65) and std == pytest.approx(0.0707, abs=1e-4)


def test_pooled_confusion_per_speaker_and_gender(summary):
    # two seeds, each scoring every test utterance once
    assert summary.pooled_confusion.tolist() == [[6, 2], [0, 8]]
    assert summary.per_class_recall() == pytest.approx({"neutral": 0.75, "angry": 1.0})
    assert summary.uar_by("speaker") == pytest.approx({"a": 1.0, "b": 0.5, "c": 1.0, "d": 1.0})
    assert summary.uar_by("gender") == pytest.approx({"f": 1.0, "m": 0.75})
    assert summary.gender_gap() == pytest.approx(0.25)
    record = summary.as_dict()
    assert record["folds"] == [0, 1] and record["seeds"] == [1, 2] and len(record["runs"]) == 4
    json.dumps(record, allow_nan=False)


def test_report_pages_carry_tables_and_decodable_figures(summary, tmp_path):
    write_report(summary, tmp_path / "cv", "CV", ["a note"])
    page = (tmp_path / "cv" / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 4
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "0.650 ± 0.141" in page and "a note" in page
    text = (tmp_path / "cv" / "report.md").read_text()
    assert "| UAR | 0.650 ± 0.141 | 0.650 ± 0.071 | 0.875 |" in text
    for name in re.findall(r"\]\((figures/[^)]+)\)", text):
        assert (tmp_path / "cv" / name).stat().st_size > 0
