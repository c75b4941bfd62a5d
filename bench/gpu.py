"""GPU epoch time and utilisation of a preset on a synthetic corpus the size of IEMOCAP.

    python bench/gpu.py [--epochs 4] [--utterances-per-emotion 138] [key=value ...]

Generates 10 speakers x 4 emotions x 138 utterances (5,520, IEMOCAP's count; the printed total
duration says how many hours that is), trains the default CRNN with `trainer=gpu` (16-bit mixed
precision) for `--epochs` epochs while `nvidia-smi` samples GPU utilisation every 200 ms, and prints
the median epoch time and the median utilisation over the epochs after the first.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import tempfile
from pathlib import Path

import soundfile as sf
from runs import train_run

from serlab.data.corpora.synthetic import SyntheticCorpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--utterances-per-emotion", type=int, default=138)
    args, overrides = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        corpus = SyntheticCorpus(data / "synthetic", utterances_per_emotion=args.utterances_per_emotion)
        corpus.prepare()
        rows = corpus.scan()
        hours = sum(sf.info(str(r.path)).duration for r in rows) / 3600
        print(f"corpus: {len(rows)} utterances, {hours:.1f} h", flush=True)
        samples = Path(tmp) / "gpu.csv"
        with open(samples, "w") as out:
            sampler = subprocess.Popen(
                [
                    "nvidia-smi",
                    "--query-gpu=timestamp,utilization.gpu,memory.used",
                    "--format=csv,noheader,nounits",
                    "-lms",
                    "200",
                ],
                stdout=out,
            )
            try:
                run = train_run(Path(tmp), ["trainer=gpu", f"paths.data_dir={data}",
                                            f"data.corpus.utterances_per_emotion={args.utterances_per_emotion}",
                                            f"trainer.max_epochs={args.epochs}", "data.num_workers=4",
                                            *overrides])  # fmt: skip
            finally:
                sampler.terminate()
        with open(samples, newline="") as f:
            utilisation = [float(r[1]) for r in csv.reader(f) if len(r) > 1]
    # the first epoch (and start-up) is dominated by generation, decoding and statistics: keep the last share
    steady = utilisation[len(utilisation) // max(args.epochs, 1) :] or utilisation
    print(f"epoch s (median after the first): {run['epoch_s']:.2f}")
    print(f"data wait share: {run['data_wait_frac']:.1%}; audio s per s: {run['audio_s_per_s']:.0f}")
    print(
        f"GPU utilisation (median of {len(steady)} samples after the first epoch share): "
        f"{statistics.median(steady):.0f} %"
    )
    print(f"test UAR {run['uar']:.3f}, wall {run['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
