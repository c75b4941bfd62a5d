"""How emodb_whisper's training recipe was chosen: validation UAR of a linear probe per weight decay and epochs.

    python bench/probe_recipes.py --emodb ../shared/data/emodb --whisper ../shared/models/whisper-tiny.en
                                  [--weight-decay 0.1 0.5 1 2] [--epochs 50 100] [--seeds 0 1] [--cache DIR]

The preset's head in plain torch, on the statistics it reads (data/streams/embeddings=whisper, through the same
cache as bench/emodb_embeddings.py): per fold, standardisation on the training speakers, one linear layer,
class-balanced cross-entropy, AdamW (lr 1e-3, batches of 32), and the final epoch's weights. Each row prints
the mean over folds of the validation speaker's UAR, which is what a recipe is chosen by, and beside it the test
speakers' UAR, which is only reported. Same 10 LOSO folds as bench/emodb_loso.py.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

import numpy as np
import torch
from emodb_embeddings import SAMPLE_RATE, fold_sides
from emodb_loso import scores

from serlab.data.audio import AudioSettings, load_audio
from serlab.data.corpora.emodb import EmoDB
from serlab.data.embeddings import PretrainedEmbeddings
from serlab.data.encoders import WhisperEncoder


def fit_fold(
    x: torch.Tensor, y: torch.Tensor, sides: np.ndarray, weight_decay: float, epochs: int, seed: int
) -> tuple[float, float]:
    """Validation and test UAR of the final weights of one fold's linear probe."""
    train, val, test = (torch.from_numpy(sides == side) for side in ("train", "val", "test"))
    mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-8)
    z = (x - mean) / std
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    classes = int(y.max()) + 1
    head = torch.nn.Linear(z.shape[1], classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=weight_decay)
    counts = torch.bincount(y[train], minlength=classes).float()
    balanced = counts.sum() / (classes * counts)
    z_train, y_train = z[train], y[train]
    for _ in range(epochs):
        for batch in torch.randperm(len(z_train), generator=order).split(32):
            loss = torch.nn.functional.cross_entropy(head(z_train[batch]), y_train[batch], weight=balanced)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return tuple(scores(y[part].numpy(), head(z[part]).argmax(1).numpy())["uar"] for part in (val, test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True, help="the EmoDB release folder (holding wav/)")
    parser.add_argument("--whisper", default="openai/whisper-tiny.en", help="a Whisper model folder or hub name")
    parser.add_argument("--weight-decay", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "serlab" / "embeddings")
    args = parser.parse_args()
    rows = EmoDB(str(Path(args.emodb).resolve())).scan()
    waves = [load_audio(r.path, AudioSettings(sample_rate=SAMPLE_RATE)) for r in rows]
    stats = PretrainedEmbeddings(WhisperEncoder(args.whisper), cache_dir=args.cache)(
        waves, SAMPLE_RATE, [r.speaker for r in rows]
    )
    x = stats.flatten(1).float()
    classes = sorted({r.label for r in rows})
    y = torch.tensor([classes.index(r.label) for r in rows])
    sides = [fold_sides(rows, fold) for fold in range(len({r.speaker for r in rows}))]
    print(f"{'weight decay':>12} {'epochs':>6} {'val UAR':>8} {'test UAR':>8}  (mean over folds and seeds)")
    for weight_decay, epochs in itertools.product(args.weight_decay, args.epochs):
        runs = [fit_fold(x, y, s, weight_decay, epochs, seed) for s in sides for seed in args.seeds]
        val, test = (statistics.fmean(run[k] for run in runs) for k in (0, 1))
        print(f"{weight_decay:>12g} {epochs:>6} {val:>8.3f} {test:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
