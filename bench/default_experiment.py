"""Wall time and test metrics of the default experiment (what `make train` runs), per seed.

    python bench/default_experiment.py --seeds 42 43 44 [extra serlab-train overrides]

Each seed runs in its own process, as a user would start it; the table gives each run and the
median wall time, and mean ± std of the test metrics.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from runs import mean_std, train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--data-dir", default=None, help="reuse a data folder (the corpus is generated there once)")
    args, overrides = parser.parse_known_args()
    if args.data_dir:
        overrides = [f"paths.data_dir={args.data_dir}", *overrides]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [{"seed": seed, **train_run(Path(tmp), [f"seed={seed}", *overrides])} for seed in args.seeds]
    print(f"{'seed':>6} {'wall s':>8} {'UAR':>7} {'WAR':>7} {'F1':>7}")
    for r in rows:
        print(f"{r['seed']:>6} {r['wall_s']:>8.1f} {r['uar']:>7.3f} {r['war']:>7.3f} {r['f1']:>7.3f}")
    spread = {k: mean_std([r[k] for r in rows]) for k in ("uar", "war", "f1")}
    print(
        f"median wall {statistics.median(r['wall_s'] for r in rows):.1f} s | "
        f"UAR {spread['uar']} | WAR {spread['war']} | F1 {spread['f1']}"
    )


if __name__ == "__main__":
    main()
