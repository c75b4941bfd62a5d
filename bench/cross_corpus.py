"""Across corpora on the big-four classes: EmoDB -> URDU and URDU -> EmoDB without and with adaptation, multi-corpus
training against single-corpus models, and each corpus's in-corpus figure for reference.

    python bench/cross_corpus.py --emodb ../shared/data/emodb --urdu ../shared/data/urdu \
        --whisper ../shared/models/whisper-tiny.en [--seeds 42 43 44] [--folds 0 1 2 3 4] [--crnn-folds 0]
        [--only ROW ...]

Every row runs serlab-cv (folds x seeds) and scores each run's test predictions per corpus; a cell is the mean ±
std over folds of the seed-averaged UAR. Chance is 0.25.
- Cross-corpus rows (data=multi, data/split=cross_corpus): train on the whole source corpus but one validation
  speaker (rotating with the fold), test on the whole target corpus; the folds differ only in that speaker.
  Rows with an adaptation, per-speaker or per-corpus statistics read the target's audio (never its labels).
- Encoder: frozen Whisper tiny.en statistics (the emodb_whisper recipe: linear probe, 100 epochs, final weights).
  Adversarial, CORAL and autoencoder adaptation act on a learnt representation, so they and their baseline use
  one hidden layer of 256 units (model.vector_hidden=256). The log-mel CRNN row (emodb_crnn recipe) runs on
  --crnn-folds only, as it trains for minutes per run on CPU.
- In-corpus rows: data=emodb with big four (5 speaker folds) and data=urdu (5 balanced folds). Multi-corpus rows
  train on both corpora with data/split=per_corpus_folds, so fold k tests the same speakers as the in-corpus
  rows and differences are paired.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from runs import mean_std

CLASSES = ("neutral", "happy", "angry", "sad")
# self-training after the probe has mostly converged: labelling rounds at epochs 40, 60 and 80 of 100
SELF_TRAINING = ["adaptation=self_training", "adaptation.start_epoch=40", "adaptation.every=20"]
HIDDEN = ["model.vector_hidden=256"]
# (row name, overrides); each runs in both directions
CROSS_ROWS: list[tuple[str, list[str]]] = [
    ("no adaptation (linear probe)", []),
    ("per-speaker statistics", ["data.streams.embeddings.per_speaker=true"]),
    ("per-corpus statistics", ["data.streams_per_corpus=true"]),
    ("self-training", SELF_TRAINING),
    ("per-corpus statistics + self-training", ["data.streams_per_corpus=true", *SELF_TRAINING]),
    ("no adaptation (256-unit layer)", HIDDEN),
    ("adversarial (256-unit layer)", [*HIDDEN, "adaptation=adversarial"]),
    ("CORAL (256-unit layer)", [*HIDDEN, "adaptation=coral"]),
    ("autoencoder (256-unit layer)", [*HIDDEN, "adaptation=autoencoder"]),
]


def uar(rows: Sequence[dict[str, str]]) -> float:
    """Mean recall over the classes present."""
    recalls = []
    for c in CLASSES:
        of_class = [r for r in rows if r["label"] == c]
        if of_class:
            recalls.append(sum(r["predicted"] == c for r in of_class) / len(of_class))
    return statistics.fmean(recalls)


def corpus_of(uid: str, single: str) -> str:
    """The corpus of a prediction's id: its prefix in a multi-corpus run, else the run's one corpus."""
    return uid.split("/", 1)[0] if "/" in uid else single


def cv(out: Path, name: str, args: list[str], seeds: list[int], folds: list[int]) -> tuple[dict, float]:
    """One serlab-cv run; per corpus, per fold, the UAR of each seed's run, and the wall time."""
    cv_dir = out / name
    command = [*args, f"cv.seeds=[{','.join(map(str, seeds))}]", f"cv.folds=[{','.join(map(str, folds))}]",
               f"hydra.run.dir={cv_dir}", f"paths.root_dir={out}", "print_config=false"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "serlab.cli.cv", *command], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"serlab-cv {' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    wall = time.perf_counter() - start
    single = next((a.split("=", 1)[1] for a in args if a.startswith("data=")), "")
    scores: dict = defaultdict(lambda: defaultdict(list))
    for fold in folds:
        for seed in seeds:
            with open(cv_dir / f"fold_{fold}" / f"seed_{seed}" / "predictions.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            for corpus in sorted({corpus_of(r["id"], single) for r in rows}):
                scores[corpus][fold].append(uar([r for r in rows if corpus_of(r["id"], single) == corpus]))
    return scores, wall


def cell(per_fold: dict[int, list[float]]) -> str:
    """Mean ± std over folds of the seed-averaged UAR."""
    return mean_std([statistics.fmean(v) for v in per_fold.values()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True)
    parser.add_argument("--urdu", required=True)
    parser.add_argument("--whisper", required=True, help="the whisper-tiny.en folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--crnn-folds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", help="run only the rows whose name contains one of these")
    parser.add_argument("--cache", default=None, help="where decoded audio and embeddings are cached")
    args = parser.parse_args()
    roots = {"emodb": str(Path(args.emodb).resolve()), "urdu": str(Path(args.urdu).resolve())}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cache = [f"paths.data_dir={Path(args.cache).resolve() if args.cache else out / 'data'}"]
        whisper = ["experiment=emodb_whisper", f"data.streams.embeddings.encoder.path={Path(args.whisper).resolve()}",
                   *cache]  # fmt: skip
        multi = ["data=multi", *(f"data.roots.{c}={root}" for c, root in roots.items())]
        wanted = (lambda name: any(o in name for o in args.only)) if args.only else (lambda name: True)
        print(f"{'row':<44} {'EmoDB -> URDU':>15} {'URDU -> EmoDB':>15} {'runs':>6} {'wall s':>7}", flush=True)
        rows = [(name, [*whisper, *extra], args.folds) for name, extra in CROSS_ROWS]
        rows.append(("log-mel CRNN, no adaptation", ["experiment=emodb_crnn", *cache], args.crnn_folds))
        for n, (name, overrides, folds) in enumerate(rows):
            if not wanted(name):
                continue
            cells, wall, runs = [], 0.0, 0
            for target in ("urdu", "emodb"):
                scores, seconds = cv(out, f"x{n}_{target}", [*multi, f"data.split.test=[{target}]", *overrides],
                                     args.seeds, folds)  # fmt: skip
                cells.append(cell(scores[target]))
                wall += seconds
                runs += len(folds) * len(args.seeds)
            print(f"{name:<44} {cells[0]:>15} {cells[1]:>15} {runs:>6} {wall:>7.0f}", flush=True)

        print(f"\n{'in-corpus (speaker-independent)':<44} {'EmoDB':>15} {'URDU':>15} {'runs':>6} {'wall s':>7}")
        single = {
            "emodb": ["data=emodb", f"data.root={roots['emodb']}", "data/label_map=big_four"],
            "urdu": ["data=urdu", f"data.root={roots['urdu']}"],
        }
        multi_rows = [
            ("single-corpus models", None),
            ("multi-corpus", ["data/split=per_corpus_folds"]),
            ("multi-corpus, balanced, per-corpus statistics",
             ["data/split=per_corpus_folds", "data.balance_corpora=true", "data.streams_per_corpus=true"]),
        ]  # fmt: skip
        for n, (name, extra) in enumerate(multi_rows):
            if not wanted(name):
                continue
            start = time.perf_counter()
            if extra is None:
                per_corpus = {c: cv(out, f"s_{c}", [*whisper, *single[c]], args.seeds, args.folds)[0][c]
                              for c in ("emodb", "urdu")}  # fmt: skip
                runs = 2 * len(args.folds) * len(args.seeds)
            else:
                scores, _ = cv(out, f"m{n}", [*whisper, *multi, *extra], args.seeds, args.folds)
                per_corpus = {c: scores[c] for c in ("emodb", "urdu")}
                runs = len(args.folds) * len(args.seeds)
            wall = time.perf_counter() - start
            print(f"{name:<44} {cell(per_corpus['emodb']):>15} {cell(per_corpus['urdu']):>15} {runs:>6} {wall:>7.0f}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
