"""The audio of a pretraining run: which files, decoded once into BYOL-S log-mel, and random segments of them.

Files come from a folder (every audio file under it) or from a corpus option's scan (labels ignored),
optionally only some speakers of it. Unusable files are counted, listed and, unless asked to stop, left out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import Dataset

from serlab.data.audio import AUDIO_SUFFIXES, AudioError, AudioSettings, load_audio
from serlab.data.dataset import ON_BAD_FILE, _try_load
from serlab.data.manifest import Utterance
from serlab.data.splits import SplitProtocol
from serlab.errors import UserError
from serlab.features.byol_s import ByolLogMel

log = logging.getLogger(__name__)
SIDES = ("train", "val", "test")


class PretrainDataError(UserError, ValueError):
    """Pretraining audio that cannot be found or used."""


def folder_files(folder: Path) -> list[Path]:
    """Every audio file under `folder` (recursively, by suffix); other files are counted in the log."""
    if not folder.is_dir():
        raise PretrainDataError(f"pretrain.audio: {folder} is not a folder; pass a folder holding audio files")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    audio = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    if len(audio) < len(files):
        log.info("pretrain.audio: left out %d file(s) of no audio type under %s", len(files) - len(audio), folder)
    if not audio:
        raise PretrainDataError(
            f"pretrain.audio: no audio files under {folder}; pass a folder of audio libsndfile reads (.wav, .flac, ...)"
        )
    return audio


def kept_speakers(
    rows: list[Utterance], speakers: Sequence[str] | None, sides: Sequence[str] | None, split: SplitProtocol,
    fold: int,
) -> set[str]:  # fmt: skip
    """The speakers of `rows` that `speakers` names and that lie on `sides` of fold `fold` (None: no limit)."""
    known = {r.speaker for r in rows}
    kept = set(known)
    if speakers is not None:
        named = {str(s) for s in speakers}
        if named - known:
            raise PretrainDataError(
                f"pretrain.speakers: {sorted(named - known)} are not speakers of the corpus (its speakers: "
                f"{sorted(known)}); quote ids with leading zeros, e.g. 'pretrain.speakers=[\"03\",\"08\"]'"
            )
        kept &= named
    if sides is not None:
        if not set(sides) <= set(SIDES):
            raise PretrainDataError(f"pretrain.sides: {list(sides)} must name sides among {list(SIDES)}, e.g. [train]")
        split_sides = split.split(rows, fold).sides()
        kept &= {s for side in sides for s in split_sides[side]}
    return kept


def corpus_files(
    rows: list[Utterance], speakers: Sequence[str] | None, sides: Sequence[str] | None, split: SplitProtocol,
    fold: int,
) -> list[Path]:  # fmt: skip
    """The files of a corpus scan whose speakers pretraining keeps."""
    kept = kept_speakers(rows, speakers, sides, split, fold)
    files = [r.path for r in rows if r.speaker in kept]
    if not files:
        raise PretrainDataError("pretrain.speakers / pretrain.sides leave no file of the corpus; widen them")
    log.info("pretraining on %d file(s) of %d speaker(s): %s", len(files), len(kept), sorted(kept))
    return files


@dataclass(frozen=True)
class Decoded:
    """The usable files' waveforms and the unusable ones with the reason."""

    paths: list[Path]
    waves: list[torch.Tensor]
    skipped: list[dict[str, str]]


def decode_files(files: list[Path], settings: AudioSettings, on_bad_file: str, threads: int = 4) -> Decoded:
    """Decode every file; an unusable one stops the run (`error`) or is counted and listed (`skip`)."""
    if on_bad_file not in ON_BAD_FILE:
        raise PretrainDataError(f"pretrain.on_bad_file must be one of {list(ON_BAD_FILE)}, got {on_bad_file!r}")
    load = partial(load_audio, settings=settings)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        loaded = list(pool.map(lambda path: _try_load(load, path), files))
    decoded = Decoded([], [], [])
    for path, wave in zip(files, loaded):
        if not isinstance(wave, AudioError):
            decoded.paths.append(path)
            decoded.waves.append(wave)
        elif on_bad_file == "error":
            raise AudioError(wave.path, f"{wave.reason} (set pretrain.on_bad_file=skip to leave such files out)")
        else:
            decoded.skipped.append({"path": str(path), "reason": wave.reason})
    if decoded.skipped:
        log.warning("skipped %d unusable file(s) of %d, e.g. %s", len(decoded.skipped), len(files), decoded.skipped[0])
    if not decoded.waves:
        raise PretrainDataError(f"none of the {len(files)} audio file(s) could be used; see skipped.csv")
    return decoded


@torch.no_grad()
def log_mels(waves: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each waveform's BYOL-S log-mel, (64 bands, frames)."""
    transform = ByolLogMel()
    return [transform(w[None], torch.tensor([len(w)]))[0][0] for w in waves]


def input_statistics(mels: list[torch.Tensor]) -> tuple[float, float]:
    """Mean and standard deviation of every log-mel value of every clip (one of each, as frontend=byol_s's
    `normalize: global` gathers them)."""
    values = torch.cat([m.flatten() for m in mels]).double()
    return float(values.mean()), float(values.std())


class Segments(Dataset[torch.Tensor]):
    """A random segment of `frames` log-mel frames of each clip, standardised with (mean, std); a new place at
    every draw. Clips shorter than a segment are repeated to fill it."""

    def __init__(self, mels: list[torch.Tensor], mean: float, std: float, frames: int = 96) -> None:
        if frames < 8:
            raise ValueError(f"segments.frames must be >= 8 (the encoder pools 8 frames into one), got {frames}")
        self.mels = mels
        self.mean = mean
        self.std = std
        self.frames = frames

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, i: int) -> torch.Tensor:
        mel = self.mels[i]
        if mel.shape[-1] < self.frames:
            mel = mel.repeat(1, -(-self.frames // mel.shape[-1]))
        start = int(torch.randint(mel.shape[-1] - self.frames + 1, ()))
        return (mel[:, start : start + self.frames] - self.mean) / self.std
