"""EmoDB leave-one-speaker-out: serlab presets through serlab-cv beside classical functionals + SVM baselines.

    python bench/emodb_loso.py --emodb ../shared/data/emodb [--presets emodb_crnn] [--seeds 42 43 44]
                               [--folds 0 1 ...] [--no-baselines] [--adaptive-baseline] [--speed-copies 0.9 1.1]
                               [key=value ...]

Protocol for every row: 10 folds, one test speaker each, the next speaker (in id order) validates,
the other 8 train; nothing is chosen on the test speaker and feature statistics come from the
training speakers only. Neural rows are mean ± std over folds of the seed-averaged test metrics
(serlab-cv's summary); with several seeds, a second row scores each fold's seed ensemble (the
seeds' class probabilities averaged per utterance). Baseline rows are deterministic, so mean ± std
over folds. Wall time counts everything a preset row needs (decoding, features, training, testing);
baseline rows share one decoding pass, done before them and not counted in theirs.
`--adaptive-baseline` adds the declared speaker-adaptive ComParE + SVM row: each speaker's
functionals standardised with that speaker's own statistics, the test speaker's included (as
data.streams.functionals.per_speaker=true does), so it compares with the speaker-adaptive presets only.
`--speed-copies 0.9 1.1` adds a ComParE + SVM row whose training set also holds each training file
resampled to those speeds (as data/perturb=speed makes them); validation and test files stay as recorded.
`--pretrained-baselines` adds reference rows on frozen pretrained encoders read from `--models` (its
whisper-tiny.en/ folder and byol-s-512/byol-s-512.pth): Whisper's last layer, mean over each clip's real
frames (serlab's embeddings stream, cached under --embeddings-cache), + linear SVM and + logistic
regression (bench/emodb_embeddings.py's); BYOL-S's output, mean and max over time, + linear SVM, its
log-mel standardised with the training speakers' statistics of each fold (as frontend.normalize=global);
ComParE ⊕ that Whisper mean, each block standardised then scaled by 1/sqrt(its size) so both weigh
alike, + linear SVM. C is chosen on validation UAR as for every baseline row.

Baselines need `pip install opensmile scikit-learn` (the `bench` extra); their functionals come from
serlab's own extractor (the ones model=fusion reads) and are cached under --cache, so a second run
only refits the SVMs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serlab.data.audio import AudioSettings, load_audio
from serlab.data.corpora.emodb import EmoDB
from serlab.data.functionals import OpenSmileFunctionals
from serlab.data.manifest import Utterance
from serlab.data.perturb import SpeedPerturbation
from serlab.data.speaker_norm import standardise_per_speaker
from serlab.data.splits import LeaveOneSpeakerOut

FEATURE_SETS = {"eGeMAPS": "eGeMAPSv02", "ComParE": "ComParE_2016"}
SVM_C = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
SAMPLE_RATE = 16000


def functionals(rows: list[Utterance], waves: list[torch.Tensor], feature_set: str, cache: Path) -> np.ndarray:
    """openSMILE functionals of every row (one vector per file) through serlab's extractor and its cache."""
    return OpenSmileFunctionals(feature_set, cache_dir=cache)(waves, SAMPLE_RATE, [r.speaker for r in rows]).numpy()


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """UAR (balanced accuracy), WAR (accuracy) and macro-F1."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    # a test speaker may lack an emotion the SVM predicts; UAR averages the classes present, as serlab's does
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    return {"uar": balanced_accuracy_score(y_true, y_pred), "war": accuracy_score(y_true, y_pred),
            "f1": f1_score(y_true, y_pred, average="macro")}  # fmt: skip


def linear_svm(c: float):
    """The baselines' classifier: a class-balanced linear SVM with regularisation C."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, class_weight="balanced", max_iter=20000)


def linear_fold(
    x: np.ndarray,
    y: np.ndarray,
    sides: np.ndarray,
    copies: Sequence[np.ndarray] = (),
    classifier: Callable[[float], Any] = linear_svm,
    grid: Sequence[float] = SVM_C,
    column_scale: np.ndarray | None = None,
) -> dict[str, float]:
    """Standardise on training speakers (and their copies), then scale each column by `column_scale` if given,
    pick C from `grid` by validation UAR, score the test speaker; `val_uar` is the chosen C's validation UAR."""
    from sklearn.preprocessing import StandardScaler

    train, val, test = (sides == s for s in ("train", "val", "test"))
    x_train = np.concatenate([x[train], *(c[train] for c in copies)])
    y_train = np.tile(y[train], 1 + len(copies))
    scaler = StandardScaler().fit(x_train)
    scale = 1.0 if column_scale is None else column_scale
    z_train, z = (np.nan_to_num(scaler.transform(a)) * scale for a in (x_train, x))
    fitted = {c: classifier(c).fit(z_train, y_train) for c in grid}
    on_val = {c: scores(y[val], model.predict(z[val]))["uar"] for c, model in fitted.items()}
    best = max(grid, key=on_val.__getitem__)
    return {**scores(y[test], fitted[best].predict(z[test])), "val_uar": on_val[best]}


def baseline(
    rows: list[Utterance],
    waves: list[torch.Tensor],
    feature_set: str,
    cache: Path,
    folds: list[int],
    per_speaker: bool = False,
    speeds: Sequence[float] = (),
) -> dict[str, object]:
    """One functionals + linear SVM row over the given LOSO folds (per-speaker standardised first if asked;
    with `speeds`, the training speakers' speed-perturbed copies train it too)."""
    start = time.perf_counter()
    x = functionals(rows, waves, feature_set, cache)
    if per_speaker:
        x = standardise_per_speaker(torch.from_numpy(x), [r.speaker for r in rows]).numpy()
    # copies[k]: every file at speeds[k]; only the training speakers' rows of it are ever used
    resampled = zip(*(SpeedPerturbation(speeds)(w, SAMPLE_RATE) for w in waves)) if speeds else []
    copies = [functionals(rows, list(copy), feature_set, cache) for copy in resampled]
    classes = sorted({r.label for r in rows})
    y = np.array([classes.index(r.label) for r in rows])
    protocol = LeaveOneSpeakerOut(n_val_speakers=1)
    per_fold = []
    for fold in folds:
        split = protocol.split(rows, fold)
        per_fold.append(linear_fold(x, y, np.array([split.side_of(r.speaker) for r in rows]), copies))
    return {"per_fold": per_fold, "wall_s": time.perf_counter() - start}


def whisper_means(rows: list[Utterance], waves: list[torch.Tensor], folder: Path, cache: Path) -> np.ndarray:
    """Per clip, the mean of frozen Whisper's last layer over its real frames (the embeddings stream's, cached)."""
    from serlab.data.embeddings import PretrainedEmbeddings
    from serlab.data.encoders import WhisperEncoder

    encoder = WhisperEncoder(str(folder))
    stats = PretrainedEmbeddings(encoder, cache_dir=cache)(waves, SAMPLE_RATE, [r.speaker for r in rows]).numpy()
    return stats[:, -1, : encoder.dim]


@torch.no_grad()
def byol_s_pooled(waves: list[torch.Tensor], weights: Path, training: np.ndarray) -> np.ndarray:
    """Per clip, frozen BYOL-S's output (512-d, 80 ms frames) averaged and maximised over time, concatenated;
    its log-mel input standardised with the statistics of the `training` clips (frontend.normalize=global)."""
    from serlab.features.byol_s import ByolS

    frontend = ByolS(str(weights), normalize="global").eval()
    lengths = [torch.tensor([len(w)]) for w in waves]
    for wave, length, used in zip(waves, lengths, training):
        if used:
            frontend.norm.accumulate(*frontend.raw_features(wave[None], length))
    pooled = []
    for wave, length in zip(waves, lengths):
        frames = frontend(wave[None], length)[0][0]
        pooled.append(torch.cat([frames.mean(-1), frames.amax(-1)]).numpy())
    return np.stack(pooled)


def pretrained_baselines(
    rows: list[Utterance], waves: list[torch.Tensor], models: Path, cache: Path, embeddings: Path, folds: list[int]
) -> Iterator[tuple[str, dict[str, object]]]:
    """The rows of frozen pretrained encoders + linear classifiers (see the docstring): label and row, each
    as soon as it is done."""
    # imported here: emodb_embeddings imports this script's fold code, so a top-level import would be circular
    from emodb_embeddings import LR_C, fold_sides, logistic

    classes = sorted({r.label for r in rows})
    y = np.array([classes.index(r.label) for r in rows])
    sides = {fold: fold_sides(rows, fold) for fold in folds}

    start = time.perf_counter()
    whisper = whisper_means(rows, waves, models / "whisper-tiny.en", embeddings)
    encoded = time.perf_counter() - start
    for label, fit in [("SVM", {}), ("logistic regression", {"classifier": logistic, "grid": LR_C})]:
        start = time.perf_counter()
        per_fold = [linear_fold(whisper, y, sides[fold], **fit) for fold in folds]
        yield f"Whisper last mean + {label}", {"per_fold": per_fold, "wall_s": encoded + time.perf_counter() - start}

    start = time.perf_counter()
    compare = functionals(rows, waves, FEATURE_SETS["ComParE"], cache)
    joined = np.concatenate([compare, whisper], axis=1)
    scale = np.concatenate([np.full(block.shape[1], block.shape[1] ** -0.5) for block in (compare, whisper)])
    per_fold = [linear_fold(joined, y, sides[fold], column_scale=scale) for fold in folds]
    yield "ComParE ⊕ Whisper + SVM", {"per_fold": per_fold, "wall_s": encoded + time.perf_counter() - start}

    start = time.perf_counter()
    weights = models / "byol-s-512" / "byol-s-512.pth"
    per_fold = [linear_fold(byol_s_pooled(waves, weights, sides[fold] == "train"), y, sides[fold]) for fold in folds]
    yield "BYOL-S mean+max + SVM", {"per_fold": per_fold, "wall_s": time.perf_counter() - start}


def preset(
    emodb: str, name: str, seeds: list[int], folds: list[int] | None, out: Path, overrides: list[str]
) -> dict[str, object]:
    """One serlab-cv run of a preset; its summary and wall time."""
    cv_dir = out / name
    # "default" is serlab-train's own default model and features, without a preset
    preset_choice = [] if name == "default" else [f"experiment={name}"]
    args = [*preset_choice, "data=emodb", f"data.root={emodb}", "data/split=loso",
            f"cv.seeds=[{','.join(map(str, seeds))}]", f"hydra.run.dir={cv_dir}", f"paths.root_dir={out}",
            "print_config=false", *overrides]  # fmt: skip
    if folds is not None:
        args.append(f"cv.folds=[{','.join(map(str, folds))}]")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "serlab.cli.cv", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"serlab-cv {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    summary = json.loads((cv_dir / "summary.json").read_text())
    return {"summary": summary, "wall_s": time.perf_counter() - start}


def pm(values: list[float]) -> str:
    """'mean ± std' over folds."""
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"


def print_baseline(label: str, row: dict[str, Any]) -> None:
    """One baseline row: UAR, WAR and F1 mean ± std over its folds, and its wall time."""
    cells = " ".join(f"{pm([f[k] for f in row['per_fold']]):>13}" for k in ("uar", "war", "f1"))
    runs = f"{len(row['per_fold'])} folds"
    print(f"{label:<28} {runs:>10} {cells} {row['wall_s']:>8.0f}", flush=True)


def summary_cells(stats: dict[str, dict[str, float]]) -> str:
    """UAR, WAR and F1 cells from a summary's {metric: {mean, std}}."""
    return " ".join(f"{stats[k]['mean']:.3f} ± {stats[k]['std']:.3f}".rjust(13) for k in ("uar", "war", "f1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True, help="the EmoDB release folder (holding wav/)")
    parser.add_argument(
        "--presets", nargs="*", default=["emodb_crnn"], help="experiment presets; 'default' = no preset"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--folds", type=int, nargs="+", default=None, help="default: all 10")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--adaptive-baseline", action="store_true", help="add the speaker-adaptive ComParE + SVM row")
    parser.add_argument("--speed-copies", type=float, nargs="+", default=None, metavar="SPEED",
                        help="add a ComParE + SVM row trained on the training speakers' files "
                             "and their copies at these speeds")  # fmt: skip
    parser.add_argument(
        "--pretrained-baselines",
        action="store_true",
        help="add the rows of frozen Whisper and BYOL-S + linear classifiers (see --models)",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=Path("../shared/models"),
        help="holds whisper-tiny.en/ and byol-s-512/byol-s-512.pth",
    )
    parser.add_argument("--out", type=Path, default=None, help="keep CV folders here (default: a temporary folder)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "serlab" / "functionals")
    parser.add_argument("--embeddings-cache", type=Path, default=Path.home() / ".cache" / "serlab" / "embeddings")
    args, overrides = parser.parse_known_args()
    emodb = str(Path(args.emodb).resolve())
    rows = EmoDB(emodb).scan()
    folds = args.folds or list(range(len({r.speaker for r in rows})))
    print(f"{'system':<28} {'runs':>10} {'UAR':>13} {'WAR':>13} {'F1':>13} {'wall s':>8}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        # decoded once for all baseline rows (see the docstring on their wall times)
        if not args.no_baselines or args.pretrained_baselines:
            waves = [load_audio(r.path, AudioSettings(sample_rate=SAMPLE_RATE)) for r in rows]
        if not args.no_baselines:
            wanted = [(f"{label} + linear SVM", feature_set, False, []) for label, feature_set in FEATURE_SETS.items()]
            if args.speed_copies:
                wanted.append(("ComParE + SVM, speed copies", FEATURE_SETS["ComParE"], False, args.speed_copies))
            if args.adaptive_baseline:
                wanted.append(("ComParE + SVM, per speaker", FEATURE_SETS["ComParE"], True, []))
            for label, feature_set, per_speaker, speeds in wanted:
                print_baseline(label, baseline(rows, waves, feature_set, args.cache, folds, per_speaker, speeds))
        if args.pretrained_baselines:
            found = pretrained_baselines(rows, waves, args.models, args.cache, args.embeddings_cache, folds)
            for label, row in found:
                print_baseline(label, row)
        for name in args.presets:
            row = preset(emodb, name, args.seeds, args.folds, out, overrides)
            s = row["summary"]
            runs = f"{len(s['folds'])}x{len(s['seeds'])}"
            label = " ".join([name, *overrides])
            print(f"{label:<28} {runs:>10} {summary_cells(s['over_folds'])} {row['wall_s']:>8.0f}", flush=True)
            if s["seed_ensemble_over_folds"]:
                print(
                    f"{'  its seed ensemble':<28} {runs:>10} {summary_cells(s['seed_ensemble_over_folds'])}", flush=True
                )


if __name__ == "__main__":
    main()
