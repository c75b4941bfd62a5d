"""Each experiment preset on EmoDB speaker fold 0: parameters, seconds per epoch, test UAR/WAR/F1.

    python bench/presets.py --emodb ../shared/data/emodb [--seeds 42] [--presets emodb_crnn ...] [key=value ...]

Fold 0 tests on speakers 03 and 08 and validates on 09 (5 folds of 2 speakers). Every preset
runs in its own serlab-train process; epoch time is the median over epochs after the first.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from runs import mean_std, train_run

PRESETS = [
    "emodb_crnn",
    "emodb_fusion",
    "mirsamadi2017_attention",
    "chernykh2017_ctc",
    "zhang2017_multitask",
    "trigeorgis2016_e2e",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True, help="the EmoDB release folder (holding wav/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    args, overrides = parser.parse_known_args()
    # serlab-train overrides (key=value) may follow the preset names
    overrides += [p for p in args.presets if "=" in p]
    args.presets = [p for p in args.presets if "=" not in p]
    emodb = str(Path(args.emodb).resolve())
    print(f"{'preset':<26} {'params':>9} {'epochs':>6} {'s/epoch':>8} {'wall s':>7} {'UAR':>13} {'WAR':>13} {'F1':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            runs = [
                train_run(
                    Path(tmp),
                    [
                        f"experiment={preset}",
                        "data=emodb",
                        f"data.root={emodb}",
                        "data.fold=0",
                        f"seed={seed}",
                        *overrides,
                    ],
                )
                for seed in args.seeds
            ]
            print(
                f"{preset:<26} {runs[0]['n_params']:>9,} {statistics.median(r['epochs'] for r in runs):>6.0f} "
                f"{statistics.median(r['epoch_s'] for r in runs):>8.1f} "
                f"{statistics.median(r['wall_s'] for r in runs):>7.0f} "
                + " ".join(f"{mean_std([r[k] for r in runs]):>13}" for k in ("uar", "war", "f1")),
                flush=True,
            )


if __name__ == "__main__":
    main()
