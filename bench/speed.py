"""Training speed on EmoDB and log-mel extraction speed against librosa.

    python bench/speed.py --emodb ../shared/data/emodb [--runs 3] [--epochs 4] [--repeats 5] [--functionals]
                          [key=value ...]

Training: `--runs` serlab-train processes of the given experiment (default: the default CRNN on
speaker fold 0) for `--epochs` epochs each; per run, the median over epochs after the first of
epoch time, the share of training time spent waiting for the next batch, and seconds of audio
trained per second; the table shows the median over runs.
Frontend: every EmoDB clip, decoded once into memory, turned into the same log-mel features
(64 bands, 25 ms windows every 10 ms) by serlab's LogMel frontend in length-sorted batches of 32
and by librosa one file at a time; median of `--repeats` passes each and their ratio. Beside them, the
bare real FFTs of the same frames (framed beforehand, nothing else): librosa's time over it is the
largest ratio any FFT-based frontend could reach on this machine.
Functionals (`--functionals`, needs opensmile): ComParE 2016 functionals of every clip, uncached, by one
process and by one worker process per core (what model=fusion computes before its first epoch).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import torch
from runs import train_run
from timing import median_seconds

from serlab.data.audio import AudioSettings, load_audio
from serlab.data.corpora.emodb import EmoDB
from serlab.data.functionals import OpenSmileFunctionals, available_cores
from serlab.features.logmel import LogMel

SAMPLE_RATE, N_MELS, WIN, HOP, F_MIN = 16000, 64, 400, 160, 20.0


def serlab_pass(frontend: LogMel, clips: list[torch.Tensor], batch_size: int = 32) -> None:
    """Log-mel of every clip through the frontend, in padded length-sorted batches."""
    ordered = sorted(clips, key=len)
    with torch.inference_mode():
        for i in range(0, len(ordered), batch_size):
            chunk = ordered[i : i + batch_size]
            lengths = torch.tensor([len(c) for c in chunk])
            frontend(torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True), lengths)


def framed(frontend: LogMel, clips: list[torch.Tensor]) -> torch.Tensor:
    """(frames, n_fft) every frame the frontend keeps (none of a batch's padding), windowed, stacked into one tensor."""
    window = torch.nn.functional.pad(frontend.window, ((frontend.n_fft - frontend.win) // 2,) * 2)
    # a clip shorter than one frame is padded to one, as the frontend pads it
    padded = [torch.nn.functional.pad(c, (0, max(0, frontend.n_fft - len(c)))) for c in clips]
    return torch.cat([c.unfold(-1, frontend.n_fft, frontend.hop) * window for c in padded])


def librosa_pass(clips: list[np.ndarray]) -> None:
    """Log-mel of every clip with librosa, one file at a time."""
    for clip in clips:
        mel = librosa.feature.melspectrogram(y=clip, sr=SAMPLE_RATE, n_fft=512, win_length=WIN, hop_length=HOP,
                                             n_mels=N_MELS, fmin=F_MIN, center=False, power=2.0)  # fmt: skip
        np.log(mel + 1e-6)


def functionals_pass(clips: list[torch.Tensor], workers: int) -> float:
    """Seconds to compute ComParE functionals of every clip with `workers` processes, nothing cached."""
    extractor = OpenSmileFunctionals("ComParE_2016", workers=workers)
    start = time.perf_counter()
    extractor(clips, SAMPLE_RATE, ["any"] * len(clips))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True, help="the EmoDB release folder (holding wav/)")
    parser.add_argument("--runs", type=int, default=3, help="0: the frontend comparison only")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--functionals", action="store_true", help="also time openSMILE functionals (one pass each)")
    args, overrides = parser.parse_known_args()
    emodb = str(Path(args.emodb).resolve())

    rows = EmoDB(emodb).scan()
    settings = AudioSettings(sample_rate=SAMPLE_RATE)
    clips = [load_audio(r.path, settings) for r in rows]
    audio_s = sum(len(c) for c in clips) / SAMPLE_RATE
    frontend = LogMel(SAMPLE_RATE, n_mels=N_MELS, f_min=F_MIN).eval()
    ours = median_seconds(lambda: serlab_pass(frontend, clips), args.repeats)
    theirs = median_seconds(lambda: librosa_pass([c.numpy() for c in clips]), args.repeats)
    frames = framed(frontend, clips)
    fft = median_seconds(lambda: torch.fft.rfft(frames), args.repeats)
    print(f"log-mel of {len(clips)} clips ({audio_s:.0f} s of audio), median of {args.repeats}: serlab {ours:.2f} s, "
          f"librosa {theirs:.2f} s, ratio {theirs / ours:.1f}x", flush=True)  # fmt: skip
    print(f"bare FFT of their {len(frames)} frames (torch.fft.rfft, framed beforehand): {fft:.2f} s; "
          f"librosa / FFT = {theirs / fft:.1f}x, the most an FFT-based frontend could reach here",
          flush=True)  # fmt: skip
    if args.functionals:
        one, many = functionals_pass(clips, 1), functionals_pass(clips, available_cores())
        print(f"ComParE functionals of {len(clips)} clips: 1 process {one:.1f} s, "
              f"{available_cores()} processes {many:.1f} s ({one / many:.1f}x)", flush=True)  # fmt: skip

    if not args.runs:
        return
    with tempfile.TemporaryDirectory() as tmp:
        cache = f"data.cache_dir={tmp}/cache"
        runs = [
            train_run(
                Path(tmp), ["data=emodb", f"data.root={emodb}", cache, f"trainer.max_epochs={args.epochs}", *overrides]
            )
            for _ in range(args.runs)
        ]
    print(f"{'run':>4} {'s/epoch':>8} {'data wait':>10} {'audio s/s':>10}")
    for i, r in enumerate(runs):
        print(f"{i:>4} {r['epoch_s']:>8.1f} {r['data_wait_frac']:>10.1%} {r['audio_s_per_s']:>10.1f}")
    median = {k: statistics.median(r[k] for r in runs) for k in ("epoch_s", "data_wait_frac", "audio_s_per_s")}
    print(f"{'med':>4} {median['epoch_s']:>8.1f} {median['data_wait_frac']:>10.1%} {median['audio_s_per_s']:>10.1f}")


if __name__ == "__main__":
    main()
