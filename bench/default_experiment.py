"""Wall time and test metrics of the default experiment (what `make train` runs), per seed.

    python bench/default_experiment.py --seeds 42 43 44 [extra serlab-train overrides]

Each seed runs in its own process, as a user would start it; the table gives each run and the
median wall time, and mean +- std of the test metrics.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(seed: int, root: Path, overrides: list[str]) -> dict[str, float]:
    """Train one seed into `root`; return its test metrics and wall time."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "serlab.train", f"seed={seed}", f"paths.root_dir={root}", "print_config=false", *overrides],
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    (metrics_file,) = root.glob("runs/train/runs/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())["metrics"]
    metrics_file.unlink()
    return {"seed": seed, "wall_s": wall, **{k: metrics[f"test/{k}"] for k in ("uar", "war", "f1")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--data-dir", default=None, help="reuse a data folder (the corpus is generated there once)")
    args, overrides = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.data_dir:
            overrides = [f"paths.data_dir={args.data_dir}", *overrides]
        rows = [run_once(seed, root, overrides) for seed in args.seeds]
    print(f"{'seed':>6} {'wall s':>8} {'UAR':>7} {'WAR':>7} {'F1':>7}")
    for r in rows:
        print(f"{r['seed']:>6} {r['wall_s']:>8.1f} {r['uar']:>7.3f} {r['war']:>7.3f} {r['f1']:>7.3f}")

    def spread(key: str) -> str:
        values = [r[key] for r in rows]
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"

    print(f"median wall {statistics.median(r['wall_s'] for r in rows):.1f} s | UAR {spread('uar')} | WAR {spread('war')} | F1 {spread('f1')}")


if __name__ == "__main__":
    main()
