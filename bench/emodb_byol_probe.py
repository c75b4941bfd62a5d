"""EmoDB leave-one-speaker-out: frozen BYOL-S encoders (published or serlab-pretrain's) + logistic regression.

    python bench/emodb_byol_probe.py --emodb ../shared/data/emodb --stats <run>/input_stats.json
                                     --weights byol-s=../shared/models/byol-s-512/byol-s-512.pth
                                               adapted=<run>/encoder.pth [--folds 0 1 ...]

Each utterance's log-mel (frontend=byol_s's) is standardised with the fixed mean and deviation in --stats
(serlab-pretrain's input_stats.json: gathered on the pretraining audio, never on EmoDB, and the same for every
encoder compared), encoded whole in eval mode, and each of the encoder's two layers (convolution output, fc
output) summarised by its mean and standard deviation over the utterance's frames. Protocol as
bench/emodb_embeddings.py: 10 folds, one test speaker each, the next validates, 8 train; standardisation on the
training speakers, C chosen on validation UAR, nothing chosen on the test speaker. Rows per encoder: the fc
output's mean+std, and both layers' mean+std; UAR, WAR and macro-F1 mean ± std over folds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from emodb_embeddings import LR_C, fold_sides, logistic
from emodb_loso import linear_fold, pm

from serlab.data.audio import AudioSettings, load_audio
from serlab.data.corpora.emodb import EmoDB
from serlab.features.byol_s import ByolS


@torch.no_grad()
def statistics(weights: str, waves: list[torch.Tensor], mean: float, std: float) -> np.ndarray:
    """(utterances, 2 layers, 2 x 512) mean and deviation over each utterance's frames."""
    frontend = ByolS(weights, layer=None, normalize="none").eval()
    out = []
    for wave in waves:
        log_mel, frames = frontend.log_mel(wave[None], torch.tensor([len(wave)]))
        hidden, _ = frontend.hidden_states((log_mel - mean) / std, frames)
        out.append(torch.cat([hidden.mean(2), hidden.std(2)], dim=-1)[:, 0].numpy())
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True, help="the EmoDB release folder (holding wav/)")
    parser.add_argument("--stats", type=Path, required=True, help="input_stats.json of a serlab-pretrain run")
    parser.add_argument("--weights", nargs="+", required=True, help="NAME=PATH of BYOL-S state dicts to compare")
    parser.add_argument("--folds", type=int, nargs="+", default=None, help="default: all 10")
    args = parser.parse_args()
    stats = json.loads(args.stats.read_text())
    rows = EmoDB(str(Path(args.emodb).resolve())).scan()
    folds = args.folds or list(range(len({r.speaker for r in rows})))
    waves = [load_audio(r.path, AudioSettings()) for r in rows]
    classes = sorted({r.label for r in rows})
    y = np.array([classes.index(r.label) for r in rows])
    sides = {fold: fold_sides(rows, fold) for fold in folds}
    print(f"{'encoder (+ logistic regression)':<40} {'UAR':>13} {'WAR':>13} {'F1':>13} {'s':>5}", flush=True)
    for name, path in (item.split("=", 1) for item in args.weights):
        start = time.perf_counter()
        x = statistics(path, waves, stats["mean"], stats["std"])
        for label, view in (("fc mean+std", x[:, 1]), ("both layers mean+std", x.reshape(len(x), -1))):
            per_fold = [linear_fold(view, y, sides[fold], classifier=logistic, grid=LR_C) for fold in folds]
            cells = " ".join(f"{pm([f[k] for f in per_fold]):>13}" for k in ("uar", "war", "f1"))
            print(f"{name + ', ' + label:<40} {cells} {time.perf_counter() - start:>5.0f}", flush=True)


if __name__ == "__main__":
    main()
