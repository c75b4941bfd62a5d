"""EmoDB leave-one-speaker-out: frozen Whisper statistics (data/streams/embeddings=whisper) + logistic regression.

    python bench/emodb_embeddings.py --emodb ../shared/data/emodb --whisper ../shared/models/whisper-tiny.en
                                     [--pad-to-window] [--cache DIR] [--folds 0 1 ...]

Each utterance's statistics (per hidden layer, mean and standard deviation over its frames) come from
serlab.data.embeddings.PretrainedEmbeddings with the WhisperEncoder adapter, cached under --cache, so a
second run only refits the classifiers. Protocol as bench/emodb_loso.py (its fold code): 10 folds, one
test speaker each, the next speaker (in id order) validates, the other 8 train; standardisation is fitted
on the training speakers, C is chosen on validation UAR from LR_C, nothing is chosen on the test speaker.
Rows: the last layer's mean; its mean and deviation; every layer's mean and deviation concatenated; and
per fold the single layer (mean and deviation) whose best C scores highest on validation. Each row is
UAR, WAR and macro-F1 mean ± std over folds; extraction time is printed first (model load apart).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from emodb_loso import linear_fold, pm

from serlab.data.audio import AudioSettings, load_audio
from serlab.data.corpora.emodb import EmoDB
from serlab.data.embeddings import PretrainedEmbeddings
from serlab.data.encoders import WhisperEncoder
from serlab.data.manifest import Utterance
from serlab.data.splits import LeaveOneSpeakerOut

LR_C = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
SAMPLE_RATE = 16000


def logistic(c: float):
    """Class-balanced multinomial logistic regression with regularisation C."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000)


def fold_sides(rows: list[Utterance], fold: int) -> np.ndarray:
    """'train', 'val' or 'test' for each row in LOSO fold `fold`."""
    split = LeaveOneSpeakerOut(n_val_speakers=1).split(rows, fold)
    return np.array([split.side_of(r.speaker) for r in rows])


def best_layer(stats: np.ndarray, y: np.ndarray, sides: np.ndarray) -> dict[str, float]:
    """Test scores of the layer (mean and deviation) with the highest validation UAR; `layer` says which."""
    per_layer = [linear_fold(layer, y, sides, classifier=logistic, grid=LR_C) for layer in stats.transpose(1, 0, 2)]
    chosen = max(range(len(per_layer)), key=lambda layer: per_layer[layer]["val_uar"])
    return {**per_layer[chosen], "layer": chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True, help="the EmoDB release folder (holding wav/)")
    parser.add_argument("--whisper", default="openai/whisper-tiny.en", help="a Whisper model folder or hub name")
    parser.add_argument("--pad-to-window", action="store_true", help="encode each clip padded to Whisper's 30 s")
    parser.add_argument("--folds", type=int, nargs="+", default=None, help="default: all 10")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "serlab" / "embeddings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = EmoDB(str(Path(args.emodb).resolve())).scan()
    folds = args.folds or list(range(len({r.speaker for r in rows})))
    waves = [load_audio(r.path, AudioSettings(sample_rate=SAMPLE_RATE)) for r in rows]

    start = time.perf_counter()
    encoder = WhisperEncoder(args.whisper, pad_to_window=args.pad_to_window)
    loaded = time.perf_counter()
    stats = PretrainedEmbeddings(encoder, cache_dir=args.cache)(waves, SAMPLE_RATE, [r.speaker for r in rows]).numpy()
    done = time.perf_counter()
    audio_s = sum(len(w) for w in waves) / SAMPLE_RATE
    print(f"{len(rows)} utterances ({audio_s / 60:.1f} min of audio): model load {loaded - start:.1f} s, "
          f"embeddings {done - loaded:.1f} s, statistics {stats.shape[1:]} per utterance", flush=True)  # fmt: skip

    classes = sorted({r.label for r in rows})
    y = np.array([classes.index(r.label) for r in rows])
    dim = stats.shape[2] // 2
    views: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "last layer mean": lambda s: s[:, -1, :dim],
        "last layer mean+std": lambda s: s[:, -1],
        "all layers mean+std": lambda s: s.reshape(len(s), -1),
    }
    print(f"{'system (+ logistic regression)':<32} {'UAR':>13} {'WAR':>13} {'F1':>13} {'fit s':>6}", flush=True)
    sides = {fold: fold_sides(rows, fold) for fold in folds}
    for label, view in views.items():
        start = time.perf_counter()
        x = view(stats)
        per_fold = [linear_fold(x, y, sides[fold], classifier=logistic, grid=LR_C) for fold in folds]
        cells = " ".join(f"{pm([f[k] for f in per_fold]):>13}" for k in ("uar", "war", "f1"))
        print(f"{label:<32} {cells} {time.perf_counter() - start:>6.0f}", flush=True)
    start = time.perf_counter()
    per_fold = [best_layer(stats, y, sides[fold]) for fold in folds]
    cells = " ".join(f"{pm([f[k] for f in per_fold]):>13}" for k in ("uar", "war", "f1"))
    print(f"{'best layer on validation':<32} {cells} {time.perf_counter() - start:>6.0f}", flush=True)
    print(f"  layers chosen per fold (0: input embeddings): {[int(f['layer']) for f in per_fold]}", flush=True)


if __name__ == "__main__":
    main()
