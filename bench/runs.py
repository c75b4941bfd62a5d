"""Running serlab-train as a user would, from benchmarks, and reading back what the run recorded."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def train_run(root: Path, overrides: list[str]) -> dict[str, float]:
    """One serlab-train process under `root`; its wall time, test metrics, parameters and epoch times."""
    before = set(root.glob("runs/*/runs/*"))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "serlab.cli.train", f"paths.root_dir={root}", "print_config=false", *overrides],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"serlab-train {' '.join(overrides)} failed:\n{proc.stderr[-3000:]}")
    (run,) = set(root.glob("runs/*/runs/*")) - before
    record = json.loads((run / "metrics.json").read_text())
    with open(run / "csv" / "metrics.csv", newline="") as f:
        logged = list(csv.DictReader(f))
    epochs = per_epoch(logged, "time/epoch_s")
    return {
        "wall_s": wall,
        "epochs": len(epochs),
        # the first epoch pays for decoding and feature statistics; later ones show the steady state
        "epoch_s": steady(epochs),
        "data_wait_frac": steady(per_epoch(logged, "time/data_wait_frac")),
        "audio_s_per_s": steady(per_epoch(logged, "time/audio_s_per_s")),
        "n_params": record.get("n_params", 0),
        **{k: record["metrics"][f"test/{k}"] for k in ("uar", "war", "f1")},
    }


def per_epoch(logged: list[dict[str, str]], column: str) -> list[float]:
    """One value per epoch of a column of the CSV logger's metrics.csv."""
    return [float(r[column]) for r in logged if r.get(column)]


def steady(values: list[float]) -> float:
    """Median over epochs after the first (the first decodes audio and gathers statistics)."""
    return statistics.median(values[1:] or values) if values else float("nan")


def mean_std(values: list[float]) -> str:
    """'mean ± std' with three decimals (std 0 for a single value)."""
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"
