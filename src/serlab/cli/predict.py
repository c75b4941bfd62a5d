"""serlab-predict: emotions and class probabilities for new audio, from a trained checkpoint."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch.nn.utils.rnn import pad_sequence

from serlab.config_tree import print_config_tree
from serlab.data.audio import AUDIO_SUFFIXES, AudioError, AudioSettings, load_audio
from serlab.data.dataset import ON_BAD_FILE, _try_load
from serlab.errors import UserError
from serlab.inference import Recognizer, load_recognizer
from serlab.records import write_csv

log = logging.getLogger(__name__)

# How many names a printed list shows before it only counts the rest.
SHOWN = 5


class PredictError(UserError, ValueError):
    """A predict setting or input that cannot be used, or a run left with no usable file."""


@dataclass(frozen=True)
class Item:
    """One file to score: `name` as the user gave it (or relative to the input folder), `path` to read."""

    name: str
    path: Path


@dataclass(frozen=True)
class Segment:
    """A stretch of one item's waveform, in samples."""

    item: int
    start: int
    end: int


@dataclass(frozen=True)
class Inputs:
    """The files to score, and the files of an input folder left out because no audio format has their suffix."""

    items: list[Item]
    ignored: list[str]


def listed(names: list[str]) -> str:
    """The first few names, then how many more there are."""
    more = f", ... ({len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def list_inputs(source: Path) -> Inputs:
    """The files named by `input`: one audio file, every audio file under a folder, or a CSV/TSV's `path` column."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file())
        found = [Item(p.relative_to(source).as_posix(), p) for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
        ignored = [p.relative_to(source).as_posix() for p in files if p.suffix.lower() not in AUDIO_SUFFIXES]
        if not found:
            others = f" (only {len(ignored)} file(s) of other types: {listed(ignored)})" if ignored else ""
            raise PredictError(
                f"input: no audio files under {source}{others}; pass a folder, file or CSV/TSV list of audio in "
                "a format libsndfile reads (.wav, .flac, .ogg, ...)"
            )
        return Inputs(found, ignored)
    if not source.is_file():
        raise PredictError(f"input: no file or folder at {source}; pass an audio file, a folder or a CSV/TSV list")
    if source.suffix.lower() in (".csv", ".tsv"):
        return Inputs(read_list(source), [])
    return Inputs([Item(str(source), source)], [])


def read_list(table: Path) -> list[Item]:
    """Files listed in the `path` column of a CSV (TSV by its suffix); relative paths start at the table's folder."""
    with open(table, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, delimiter="\t" if table.suffix.lower() == ".tsv" else ",")
        header = [c.strip() for c in reader.fieldnames or ()]
        reader.fieldnames = header
        if "path" not in header:
            raise PredictError(f"input: {table} has no `path` column (its columns: {header}); add one naming the files")
        items = []
        for line, record in enumerate(reader, start=2):
            name = (record.get("path") or "").strip()
            if not name:
                raise PredictError(f"input: {table} line {line} has an empty path; name a file there or drop the line")
            path = Path(name).expanduser()
            items.append(Item(name, path if path.is_absolute() else table.parent / path))
    if not items:
        raise PredictError(f"input: {table} lists no files; add rows with a `path` each")
    return items


def windows(n_samples: int, window: int | None, hop: int) -> list[tuple[int, int]]:
    """(start, end) sample ranges of `window` every `hop`, the last one ending with the file; one if it is no longer."""
    if window is None or n_samples <= window:
        return [(0, n_samples)]
    starts = [*range(0, n_samples - window, hop), n_samples - window]
    return [(s, s + window) for s in starts]


def batches(segments: list[Segment], batch_size: int) -> Iterator[list[Segment]]:
    """Segments grouped by similar length, so batches carry little padding."""
    ordered = sorted(segments, key=lambda s: s.end - s.start)
    for i in range(0, len(ordered), batch_size):
        yield ordered[i : i + batch_size]


@dataclass(frozen=True)
class Scores:
    """What is said of one stretch of audio: class probabilities (classes,) and, when the run has a
    reconstruction autoencoder, its novelty (a scalar tensor)."""

    probs: torch.Tensor
    novelty: torch.Tensor | None = None

    @staticmethod
    def mean(parts: list[Scores]) -> Scores:
        """The mean of equally weighted parts (the windows of one file)."""
        novelty = [p.novelty for p in parts if p.novelty is not None]
        return Scores(torch.stack([p.probs for p in parts]).mean(0), torch.stack(novelty).mean() if novelty else None)


@torch.no_grad()
def score(recognizer: Recognizer, waves: list[torch.Tensor], device: torch.device) -> list[Scores]:
    """The scores of each waveform, computed as one zero-padded batch with lengths."""
    lengths = torch.tensor([len(w) for w in waves], device=device)
    batch = pad_sequence(waves, batch_first=True).to(device)
    vectors = recognizer.compute_vectors(batch, lengths)
    probs = recognizer(batch, lengths, vectors).cpu()
    if recognizer.reconstruction is None:
        return [Scores(p) for p in probs]
    return [Scores(p, n) for p, n in zip(probs, recognizer.novelty(vectors).cpu())]


def result_row(name: str, level: str, start: float, end: float, scores: Scores, classes: list[str]) -> dict:
    """One output row: where, the predicted emotion, every class probability and the novelty (when scored)."""
    probs = scores.probs
    novelty = {} if scores.novelty is None else {"novelty": round(float(scores.novelty), 6)}
    return {
        "path": name,
        "level": level,
        "start": round(start, 3),
        "end": round(end, 3),
        "emotion": classes[int(probs.argmax())],
        **{f"p_{c}": round(float(p), 6) for c, p in zip(classes, probs)},
        **novelty,
    }


def write_rows(rows: list[dict], columns: list[str], path: Path) -> None:
    """Rows as CSV or as a JSON list of objects, by the suffix of `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(rows, indent=2) + "\n")
    else:
        write_csv(rows, columns, path)


def output_path(cfg: DictConfig) -> Path:
    """Where the predictions go; the suffix chooses the format."""
    path = Path(cfg.output).expanduser()
    if path.suffix.lower() not in (".csv", ".json"):
        raise PredictError(f"output: {path} must end in .csv or .json (that chooses the format)")
    return path


def seconds(cfg: DictConfig, key: str) -> float | None:
    """`cfg[key]` as a positive number of seconds, or None when it is null."""
    value = cfg[key]
    if value is None:
        return None
    # bool is an int to Python, but `window=true` is no length
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise PredictError(f"{key}={value!r}: must be a positive number of seconds (e.g. {key}=3) or null")
    return float(value)


def window_seconds(cfg: DictConfig) -> tuple[float | None, float | None]:
    """The checked `window` and `hop` in seconds; hop defaults to the window (no overlap)."""
    window, hop = seconds(cfg, "window"), seconds(cfg, "hop")
    if window is None:
        if hop is not None:
            raise PredictError(
                f"hop={hop:g} needs a window: set window= (seconds) too, or drop hop to score files whole"
            )
        return None, None
    if hop is not None and hop > window:
        raise PredictError(
            f"hop={hop:g} is longer than window={window:g}, so parts of every file would go unscored; "
            "choose hop <= window"
        )
    return window, hop or window


def window_samples(window: float | None, hop: float | None, audio: AudioSettings) -> tuple[int | None, int]:
    """`window` and `hop` in samples at the run's rate; a window shorter than the run accepts a file is refused."""
    if window is None or hop is None:
        return None, 1
    if window < audio.min_duration:
        raise PredictError(
            f"window={window:g}: shorter than the {audio.min_duration} s the run needs of a file (its "
            f"data.audio.min_duration, kept in the checkpoint); choose window >= {audio.min_duration}"
        )
    return round(window * audio.sample_rate), max(1, round(hop * audio.sample_rate))


def score_segments(
    recognizer: Recognizer,
    waves: dict[int, torch.Tensor],
    segments: list[Segment],
    batch_size: int,
    device: torch.device,
) -> dict[Segment, Scores]:
    """The scores of every segment, in batches of similar length."""
    scores: dict[Segment, Scores] = {}
    for batch in batches(segments, batch_size):
        scores.update(zip(batch, score(recognizer, [waves[s.item][s.start : s.end] for s in batch], device)))
    return scores


def decode_group(
    items: list[Item],
    load: Callable[[Path], torch.Tensor],
    on_bad_file: str,
    pool: ThreadPoolExecutor,
    skipped: list[dict],
) -> dict[int, torch.Tensor]:
    """Waveforms of the usable items by position; an unusable one stops the run or is added to `skipped`."""
    waves: dict[int, torch.Tensor] = {}
    for i, wave in enumerate(pool.map(lambda item: _try_load(load, item.path), items)):
        if not isinstance(wave, AudioError):
            waves[i] = wave
        elif on_bad_file == "skip":
            skipped.append({"path": items[i].name, "reason": wave.reason})
        else:
            # A reason may name a data.audio.* limit: the trained run's, which predict has no key to change.
            raise PredictError(
                f"{wave.path}: {wave.reason}; set on_bad_file=skip to leave such files out (the run's data.audio "
                "settings come with its checkpoint)"
            ) from wave
    return waves


def predict(cfg: DictConfig) -> list[dict]:
    """Score every input file (in windows when `window` is set) and write one row per file and per window."""
    if cfg.on_bad_file not in ON_BAD_FILE:
        raise PredictError(f"on_bad_file must be one of {list(ON_BAD_FILE)}, got {cfg.on_bad_file!r}")
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise PredictError(f"batch_size={cfg.batch_size!r}: must be a whole number >= 1")
    if cfg.get("print_config"):
        print_config_tree(cfg)
    output = output_path(cfg)
    window_s, hop_s = window_seconds(cfg)
    inputs = list_inputs(Path(cfg.input).expanduser())
    items = inputs.items
    device = torch.device(cfg.device)
    recognizer = load_recognizer(Path(cfg.ckpt_path).expanduser().resolve()).to(device)
    rate, classes = recognizer.sample_rate, recognizer.classes
    window, hop = window_samples(window_s, hop_s, recognizer.audio)
    load = partial(load_audio, settings=recognizer.audio)

    rows: list[dict] = []
    skipped: list[dict] = []
    # Files are decoded a few batches at a time, so memory holds one group however many files there are.
    group = cfg.batch_size * 4
    with ThreadPoolExecutor(4) as pool:
        for first in range(0, len(items), group):
            chunk = items[first : first + group]
            waves = decode_group(chunk, load, cfg.on_bad_file, pool, skipped)
            spans = {i: [Segment(i, s, e) for s, e in windows(len(w), window, hop)] for i, w in waves.items()}
            scores = score_segments(
                recognizer, waves, [s for own in spans.values() for s in own], cfg.batch_size, device
            )
            for i, own in spans.items():
                # The file's result is the mean over its windows (all of one length, so equally weighted).
                overall = Scores.mean([scores[s] for s in own])
                rows.append(result_row(chunk[i].name, "file", 0.0, len(waves[i]) / rate, overall, classes))
                if window is not None:
                    rows += [
                        result_row(chunk[i].name, "window", s.start / rate, s.end / rate, scores[s], classes)
                        for s in own
                    ]

    table = write_skipped(skipped, Path(cfg.paths.output_dir))
    print_left_out(inputs.ignored, skipped, table)
    if not rows:
        # Only on_bad_file=skip gets here, so every file is in `table`.
        raise PredictError(
            f"input: all {len(items)} file(s) were unusable (the reasons are in {table}); nothing was predicted"
        )
    novelty = [] if recognizer.reconstruction is None else ["novelty"]
    write_rows(rows, ["path", "level", "start", "end", "emotion", *(f"p_{c}" for c in classes), *novelty], output)
    emotions = Counter(r["emotion"] for r in rows if r["level"] == "file")
    summary = "  ".join(f"{e}={n}" for e, n in emotions.most_common())
    print(f"\n{sum(emotions.values())} file(s): {summary}\npredictions: {output}")
    return rows


def write_skipped(skipped: list[dict], run_dir: Path) -> Path | None:
    """skipped.csv in the run folder: each unusable file and why; None when there were none."""
    if not skipped:
        return None
    table = run_dir / "skipped.csv"
    run_dir.mkdir(parents=True, exist_ok=True)
    write_csv(skipped, ["path", "reason"], table)
    return table


def print_left_out(ignored: list[str], skipped: list[dict], table: Path | None) -> None:
    """Print the files of other types an input folder held, and the unusable files skipped with their reasons."""
    if ignored:
        print(f"ignored {len(ignored)} file(s) that are not audio: {listed(ignored)}")
    if skipped:
        log.warning("skipped %d unusable file(s), e.g. %s: %s", len(skipped), skipped[0]["path"], skipped[0]["reason"])
        print(f"skipped {len(skipped)} unusable file(s), listed in {table}:")
        for row in skipped[:SHOWN]:
            print(f"  {row['path']}: {row['reason']}")
        if len(skipped) > SHOWN:
            print(f"  ... and {len(skipped) - SHOWN} more")


def main(cfg: DictConfig) -> None:
    """The task of serlab-predict (serlab.cli.commands.predict)."""
    predict(cfg)


if __name__ == "__main__":
    from serlab.cli.commands import predict as command

    command()
