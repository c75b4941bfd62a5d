"""The files a run leaves in its folder besides checkpoints and logs."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from serlab.data.datamodule import SERDataModule
from serlab.provenance import provenance
from serlab.training.metrics import per_class_recall
from serlab.training.module import SERModule

log = logging.getLogger(__name__)


def metrics_record(metrics: dict[str, float], confusion: torch.Tensor | None, classes: list[str]) -> dict[str, Any]:
    """Scalar metrics plus, when known, the confusion matrix and per-class recall."""
    record: dict[str, Any] = {"metrics": metrics, "classes": classes}
    if confusion is not None:
        record["confusion_matrix"] = confusion.tolist()
        recall = per_class_recall(confusion)
        record["per_class_recall"] = {c: (None if r != r else r) for c, r in zip(classes, recall.tolist())}
    return record


def write_json(record: dict[str, Any], path: Path) -> None:
    """Write `record` as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def write_predictions(rows: list[dict[str, Any]], classes: list[str], path: Path) -> None:
    """One line per scored utterance: id, true and predicted class, class probabilities."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label", "predicted", *(f"p_{c}" for c in classes)])
        for row in sorted(rows, key=lambda r: r["id"]):
            probs = row["probs"]
            best = max(range(len(probs)), key=probs.__getitem__)
            writer.writerow([row["id"], classes[row["target"]], classes[best], *(f"{p:.6f}" for p in probs)])


def write_csv(rows: list[dict[str, Any]], columns: list[str], path: Path) -> None:
    """Rows as CSV with a fixed header (written even when there are no rows)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_data_record(datamodule: SERDataModule, output_dir: Path) -> None:
    """split.csv (which utterance went where), split.json (speakers per side) and skipped.csv."""
    write_csv(datamodule.split_record(), ["id", "speaker", "gender", "label", "split"], output_dir / "split.csv")
    write_json(datamodule.split_summary(), output_dir / "split.json")
    write_csv([asdict(s) for s in datamodule.skipped()], ["id", "path", "reason"], output_dir / "skipped.csv")


def write_test_outputs(module: SERModule, metrics: dict[str, float], output_dir: Path, **extra: Any) -> None:
    """metrics.json (metrics, confusion matrix, per-class recall, `extra`) and predictions.csv."""
    record = metrics_record(metrics, module.last_confusion.get("test"), module.classes)
    record.update(extra, provenance=provenance())
    write_json(record, output_dir / "metrics.json")
    write_predictions(module.test_predictions, module.classes, output_dir / "predictions.csv")


def report(metrics: dict[str, float], output_dir: Path) -> None:
    """Print the headline metrics and where the run folder is."""
    shown = {k: v for k, v in metrics.items() if k.split("/")[-1] in {"uar", "war", "f1"}}
    summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(shown.items()))
    log.info("%s", summary)
    print(f"\n{summary}\nrun folder: {output_dir}")
