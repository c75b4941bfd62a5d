"""Cross-validation summaries and reports from run folders."""

import base64
import json
import re
from pathlib import Path

import pytest

from serlab.cli.cv import cross_validate
from serlab.records import write_csv, write_json
from serlab.reports.crossval import CVSummary, read_fold_run
from serlab.reports.render import figures, write_report
from tests.conftest import compose_train

CLASSES = ["neutral", "angry"]
# fold -> test speakers (speaker, gender) with (label, predicted) per utterance
FOLDS = {
    0: {
        ("a", "f"): [("neutral", "neutral"), ("angry", "angry")],
        ("b", "m"): [("neutral", "angry"), ("angry", "angry")],
    },
    1: {
        ("c", "f"): [("neutral", "neutral"), ("angry", "angry")],
        ("d", "m"): [("neutral", "neutral"), ("angry", "angry")],
    },
}


def fake_run(folder, fold, uar, p_neutral=None):
    """A run folder as serlab-train leaves it, with the test utterances of `fold`.

    `p_neutral` (utterance id -> probability) overrides an utterance's prediction.
    """
    split, preds = [], []
    for (speaker, gender), pairs in FOLDS[fold].items():
        for i, (label, predicted) in enumerate(pairs):
            uid = f"{speaker}{i}"
            p = (p_neutral or {}).get(uid, 0.9 if predicted == "neutral" else 0.1)
            split.append({"id": uid, "speaker": speaker, "gender": gender, "label": label, "split": "test"})
            preds.append({"id": uid, "label": label, "predicted": CLASSES[p < 0.5], "p_neutral": p, "p_angry": 1 - p})
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(split, ["id", "speaker", "gender", "label", "split"], folder / "split.csv")
    # rows in a different order per run, as a differently seeded run could write them
    order = 1 if p_neutral is None else -1
    write_csv(preds[::order], ["id", "label", "predicted", "p_neutral", "p_angry"], folder / "predictions.csv")
    write_json(
        {"metrics": {"test/uar": uar, "test/war": uar, "test/f1": uar}, "classes": CLASSES}, folder / "metrics.json"
    )
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


def test_seed_ensemble_averages_probabilities_per_utterance(tmp_path):
    # fold 0, utterance b0 (neutral): seed 1 says angry at 0.6, seed 2 neutral at 0.8 -> mean 0.6 neutral
    runs = [
        read_fold_run(fake_run(tmp_path / "s1", 0, 0.75, {"b0": 0.4}), 0, 1),
        read_fold_run(fake_run(tmp_path / "s2", 0, 0.75, {"b0": 0.8, "a1": 0.55}), 0, 2),
    ]
    summary = CVSummary(runs)
    assert summary.seed_ensemble[0]["uar"] == pytest.approx(1.0)
    assert summary.as_dict()["seed_ensemble_over_folds"]["uar"]["mean"] == pytest.approx(1.0)
    # a1 (angry): seed 2 calls it neutral at 0.55, seed 1 angry at 0.9; the sure vote wins
    assert summary.pooled_confusion.tolist() == [[3, 1], [1, 3]]
    assert CVSummary(runs[:1]).as_dict()["seed_ensemble_over_folds"] is None


def test_seed_ensemble_refuses_runs_of_one_fold_that_scored_different_utterances(tmp_path):
    runs = [
        read_fold_run(fake_run(tmp_path / "s1", 0, 0.75), 0, 1),
        read_fold_run(fake_run(tmp_path / "s2", 1, 0.75), 0, 2),
    ]
    with pytest.raises(ValueError, match="test utterances differ"):
        _ = CVSummary(runs).seed_ensemble


def test_a_predictions_file_without_probabilities_is_named(tmp_path):
    folder = fake_run(tmp_path / "run", 0, 0.75)
    write_csv(
        [{"id": "a0", "label": "neutral", "predicted": "neutral"}],
        ["id", "label", "predicted"],
        folder / "predictions.csv",
    )
    with pytest.raises(ValueError, match=r"run/predictions.csv: needs the class-probability columns"):
        read_fold_run(folder, 0, 1)


def test_report_pages_carry_tables_and_decodable_figures(summary, tmp_path):
    write_report(summary, tmp_path / "cv", "CV", ["a note"])
    page = (tmp_path / "cv" / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 4
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "0.650 ± 0.141" in page and "a note" in page
    text = (tmp_path / "cv" / "report.md").read_text()
    assert "| UAR | 0.650 ± 0.141 | 0.650 ± 0.071 | 0.875 | 0.875 ± 0.177 |" in text
    assert "over seeds" in page
    for name in re.findall(r"\]\((figures/[^)]+)\)", text):
        assert (tmp_path / "cv" / name).stat().st_size > 0


def test_report_headings_are_capitalised_and_name_each_figure(summary, tmp_path):
    write_report(summary, tmp_path / "cv", "CV", [])
    page = (tmp_path / "cv" / "report.html").read_text()
    headings = re.findall(r"<(?:h1|h2|th)>([^<]*)<", page)
    assert len(headings) > 10 and all(h[0].isupper() for h in headings), headings
    assert "Confusion matrix (pooled)" in headings and "UAR per fold" in headings
    text = (tmp_path / "cv" / "report.md").read_text()
    md_headings = re.findall(r"^#+ (.*)$", text, flags=re.M)
    header_rows = re.findall(r"^\|(.*)\|\n\|---", text, flags=re.M)
    header_cells = [cell.strip() for row in header_rows for cell in row.split("|")]
    assert all(h[0].isupper() for h in md_headings + header_cells), md_headings + header_cells
    assert "## Confusion matrix (pooled)\n\n![Confusion matrix (pooled)](figures/confusion_matrix.png)" in text


def test_bar_charts_label_their_chance_line(summary):
    charts = {name: fig for name, fig in figures(summary).items() if name != "confusion_matrix"}
    assert len(charts) == 3
    for name, fig in charts.items():
        (ax,) = fig.axes
        legend = ax.get_legend()
        assert legend is not None, f"{name}: the chance line has no legend"
        assert [t.get_text() for t in legend.get_texts()] == ["chance level (0.50)"]


def test_cv_report_is_titled_by_the_experiment_and_one_seed_shows_no_spread_over_seeds(tmp_path, monkeypatch):
    # Each fold "trains" by writing a finished run folder: the report is what is under test.
    def train(run):
        fake_run(Path(run.paths.output_dir), run.data.fold, 0.6 + 0.1 * run.data.fold)

    monkeypatch.setattr("serlab.cli.cv.train", train)
    for preset, title in [("experiment=synthetic_crnn", "synthetic_crnn"), ("model=blstm", "blstm on synthetic")]:
        out = tmp_path / title.replace(" ", "_")
        cross_validate(compose_train(out, tmp_path / "data", preset, "cv.folds=[0,1]", config_name="cv"))
        page = (out / "run" / "report.html").read_text()
        assert re.search(r"<h1>([^<]*)</h1>", page).group(1) == f"Cross-validation: {title}"
        text = (out / "run" / "report.md").read_text()
        assert text.startswith(f"# Cross-validation: {title}\n")
        for report in (page, text):
            assert "over seeds" not in report and "± 0.000" not in report and "seed ensemble" not in report.lower()
        assert "0.650 ± 0.071" in page  # the spread over the two folds
        assert json.loads((out / "run" / "summary.json").read_text())["over_seeds"] is None
