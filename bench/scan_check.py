"""What checking every file of a corpus before training costs, against decoding the same files.

    python bench/scan_check.py --emodb ../shared/data/emodb [--repeats 5]

The check (size and header of each file, as every run does when it scans the corpus) and a full
decode of every file (what the cache saves later runs); median of `--repeats` passes each, in total
seconds and microseconds per file. The operating system's file cache is warm after the first pass,
so a corpus on a network file system pays more for both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from timing import median_seconds

from serlab.data.audio import decode
from serlab.data.checks import file_problems
from serlab.data.corpora.emodb import EmoDB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", type=Path, required=True, help="the EmoDB release folder (holding wav/)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = EmoDB(args.emodb).scan()
    check = median_seconds(lambda: file_problems(rows), args.repeats)
    full = median_seconds(lambda: [decode(r.path, 16000) for r in rows], max(1, args.repeats // 2))
    print(f"{'pass':<22} {'total s':>8} {'us/file':>8}")
    for name, seconds in (("size + header check", check), ("full decode", full)):
        print(f"{name:<22} {seconds:>8.3f} {seconds / len(rows) * 1e6:>8.0f}")
    print(f"{len(rows)} files; the check costs {check / full:.1%} of a full decode")


if __name__ == "__main__":
    main()
