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
        [sys.executable, "-m", "serlab.train", f"paths.root_dir={root}", "print_config=false", *overrides],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"serlab-train {' '.join(overrides)} failed:\n{proc.stderr[-3000:]}")
    (run,) = set(root.glob("runs/*/runs/*")) - before
    record = json.loads((run / "metrics.json").read_text())
    with open(run / "csv" / "metrics.csv", newline="") as f:
        epochs = [float(r["time/epoch_s"]) for r in csv.DictReader(f) if r.get("time/epoch_s")]
    return {
        "wall_s": wall,
        "epochs": len(epochs),
        # the first epoch pays for decoding and feature statistics; later ones show the steady state
        "epoch_s": statistics.median(epochs[1:] or epochs) if epochs else float("nan"),
        "n_params": record.get("n_params", 0),
        **{k: record["metrics"][f"test/{k}"] for k in ("uar", "war", "f1")},
    }


def mean_std(values: list[float]) -> str:
    """'mean ± std' with three decimals (std 0 for a single value)."""
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"
