"""Cross-validation results: every fold's run folder read back and pooled into one summary."""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from serlab.training.energy import EnergyRecord
from serlab.training.metrics import per_class_recall, summarize, uar

HEADLINE = ("uar", "war", "f1")


@dataclass(frozen=True)
class FoldRun:
    """One finished training of the CV: its fold, seed, test metrics and scored utterances."""

    fold: int
    seed: int
    folder: Path
    metrics: dict[str, float]
    classes: list[str]
    # one row per test utterance: id, speaker, gender, label, predicted
    predictions: list[dict[str, str]]
    # the class probabilities of those rows, in the same order (rows x classes)
    probabilities: torch.Tensor
    # what its training consumed (metrics.json `energy`, callbacks/energy); None when not tracked
    energy: EnergyRecord | None = None


def read_csv(path: Path) -> list[dict[str, str]]:
    """All rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_fold_run(folder: Path, fold: int, seed: int) -> FoldRun:
    """Read metrics.json, predictions.csv and split.csv of a finished run folder."""
    record = json.loads((folder / "metrics.json").read_text())
    who = {row["id"]: row for row in read_csv(folder / "split.csv")}
    scored = read_csv(folder / "predictions.csv")
    predictions = [
        {"id": p["id"], "speaker": who[p["id"]]["speaker"], "gender": who[p["id"]].get("gender", ""),
         "label": p["label"], "predicted": p["predicted"]}
        for p in scored
    ]  # fmt: skip
    columns = [f"p_{c}" for c in record["classes"]]
    if scored and not set(columns) <= set(scored[0]):
        raise ValueError(f"{folder / 'predictions.csv'}: needs the class-probability columns {columns}")
    probabilities = torch.tensor([[float(p[c]) for c in columns] for p in scored]).reshape(len(scored), -1)
    return FoldRun(
        fold, seed, folder, record["metrics"], record["classes"], predictions, probabilities,
        EnergyRecord(**record["energy"]) if record.get("energy") else None,
    )


def confusion(rows: list[dict[str, str]], classes: list[str]) -> torch.Tensor:
    """Confusion matrix (true x predicted) of prediction rows."""
    index = {c: i for i, c in enumerate(classes)}
    cm = torch.zeros(len(classes), len(classes), dtype=torch.long)
    for row in rows:
        cm[index[row["label"]], index[row["predicted"]]] += 1
    return cm


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class CVSummary:
    """Everything the CV report shows, computed from the fold runs."""

    runs: list[FoldRun]

    @property
    def classes(self) -> list[str]:
        """Class names in the order of the confusion matrix."""
        return self.runs[0].classes

    @property
    def folds(self) -> list[int]:
        """The folds that finished, in order."""
        return sorted({r.fold for r in self.runs})

    @property
    def seeds(self) -> list[int]:
        """The seeds that ran, in order."""
        return sorted({r.seed for r in self.runs})

    def fold_metric(self, name: str) -> dict[int, float]:
        """`test/<name>` of each fold, averaged over its seeds."""
        per_fold: dict[int, list[float]] = defaultdict(list)
        for run in self.runs:
            per_fold[run.fold].append(run.metrics[f"test/{name}"])
        return {fold: statistics.fmean(v) for fold, v in sorted(per_fold.items())}

    def over_folds(self, name: str) -> tuple[float, float]:
        """Mean ± std over folds of `test/<name>` (each fold averaged over seeds first)."""
        return mean_std(list(self.fold_metric(name).values()))

    def over_seeds(self, name: str) -> tuple[float, float]:
        """Mean ± std over seeds of the fold-averaged `test/<name>`: how much the seed moves the result."""
        per_seed: dict[int, list[float]] = defaultdict(list)
        for run in self.runs:
            per_seed[run.seed].append(run.metrics[f"test/{name}"])
        return mean_std([statistics.fmean(v) for v in per_seed.values()])

    @cached_property
    def seed_ensemble(self) -> dict[int, dict[str, float]]:
        """Per fold, the test metrics of the seeds' class probabilities averaged per utterance."""
        by_fold: dict[int, list[FoldRun]] = defaultdict(list)
        for run in self.runs:
            by_fold[run.fold].append(run)
        metrics = {}
        for fold, runs in sorted(by_fold.items()):
            order = {row["id"]: i for i, row in enumerate(runs[0].predictions)}
            total = torch.zeros_like(runs[0].probabilities)
            for run in runs:
                if set(order) != {row["id"] for row in run.predictions}:
                    raise ValueError(
                        f"{run.folder}: its test utterances differ from {runs[0].folder}, same fold {fold}"
                    )
                total[[order[row["id"]] for row in run.predictions]] += run.probabilities
            voted = [
                {**row, "predicted": self.classes[i]}
                for row, i in zip(runs[0].predictions, total.argmax(dim=1).tolist())
            ]
            metrics[fold] = summarize(confusion(voted, self.classes))
        return metrics

    @property
    def has_seed_ensemble(self) -> bool:
        """Whether several seeds ran, so that each fold has an ensemble to score."""
        return len(self.seeds) > 1

    def seed_ensemble_over_folds(self, name: str) -> tuple[float, float]:
        """Mean ± std over folds of the seed ensemble's `<name>`."""
        return mean_std([m[name] for m in self.seed_ensemble.values()])

    @cached_property
    def pooled_predictions(self) -> list[dict[str, str]]:
        """Every scored test utterance of every run (an utterance once per seed)."""
        return [row for run in self.runs for row in run.predictions]

    @cached_property
    def pooled_confusion(self) -> torch.Tensor:
        """Confusion matrix summed over all folds and seeds."""
        return confusion(self.pooled_predictions, self.classes)

    def per_class_recall(self) -> dict[str, float]:
        """Recall of each class on the pooled predictions."""
        return dict(zip(self.classes, per_class_recall(self.pooled_confusion).tolist()))

    def uar_by(self, key: str) -> dict[str, float]:
        """UAR of the pooled predictions grouped by a column, e.g. `speaker` or `gender`."""
        groups: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in self.pooled_predictions:
            groups[row[key] or "unknown"].append(row)
        return {name: uar(confusion(rows, self.classes)) for name, rows in sorted(groups.items())}

    def gender_gap(self) -> float | None:
        """Largest minus smallest UAR between known gender groups; None with fewer than two groups."""
        scores = [v for k, v in self.uar_by("gender").items() if k != "unknown"]
        return max(scores) - min(scores) if len(scores) > 1 else None

    def energy_kwh(self) -> float | None:
        """The training energy of all runs together; None unless every run tracked it."""
        if any(run.energy is None for run in self.runs):
            return None
        return sum(run.energy.kwh for run in self.runs if run.energy)

    def as_dict(self) -> dict[str, object]:
        """The summary as plain JSON-ready values."""
        return {
            "folds": self.folds,
            "seeds": self.seeds,
            "classes": self.classes,
            "over_folds": {k: dict(zip(("mean", "std"), self.over_folds(k))) for k in HEADLINE},
            "over_seeds": (
                {k: dict(zip(("mean", "std"), self.over_seeds(k))) for k in HEADLINE}
                if self.has_seed_ensemble else None
            ),
            "seed_ensemble_over_folds": (
                {k: dict(zip(("mean", "std"), self.seed_ensemble_over_folds(k))) for k in HEADLINE}
                if self.has_seed_ensemble else None
            ),
            "pooled": summarize(self.pooled_confusion),
            "per_fold": {k: self.fold_metric(k) for k in HEADLINE},
            "runs": [{"fold": r.fold, "seed": r.seed, "folder": str(r.folder), **r.metrics} for r in self.runs],
            "confusion_matrix": self.pooled_confusion.tolist(),
            "per_class_recall": {c: (None if r != r else r) for c, r in self.per_class_recall().items()},
            "per_speaker_uar": self.uar_by("speaker"),
            "per_gender_uar": self.uar_by("gender"),
            "gender_gap": self.gender_gap(),
            "training_energy_kwh": self.energy_kwh(),
        }
