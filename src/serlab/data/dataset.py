"""The dataset of decoded utterances."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from serlab.data.audio import AudioError
from serlab.data.manifest import Utterance
from serlab.data.samplers import Draw
from serlab.data.targets import auxiliary_targets

log = logging.getLogger(__name__)
ON_BAD_FILE = ("error", "skip")


@dataclass(frozen=True)
class Example:
    """One decoded utterance with its class index."""

    id: str
    waveform: torch.Tensor
    target: int
    aux: dict[str, float] = field(default_factory=dict)
    speaker: str = ""
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)  # utterance-level streams (data.streams)


@dataclass(frozen=True)
class Skipped:
    """A file left out of the data, and why."""

    id: str
    path: str
    reason: str


def _try_load(load: Callable[[Path], torch.Tensor], path: Path) -> torch.Tensor | AudioError:
    try:
        return load(path)
    except AudioError as err:
        return err


def _pick(rng: random.Random | None, n: int) -> int:
    """A number in range(n) from the draw's generator, or from torch's global one for a bare index."""
    return rng.randrange(n) if rng is not None else int(torch.randint(n, ()))


class AudioDataset(Dataset[Example]):
    """Utterances decoded once, up front; training crops long ones at random to `max_samples`.

    `transform(waveform, id)` alters each utterance once, as it is decoded (a degraded test condition).
    """

    def __init__(
        self,
        rows: list[Utterance],
        classes: list[str],
        load: Callable[[Path], torch.Tensor],
        on_bad_file: str = "error",
        max_samples: int | None = None,
        threads: int = 4,
        corpora: list[str] | None = None,
        transform: Callable[[torch.Tensor, str], torch.Tensor] | None = None,
    ) -> None:
        if on_bad_file not in ON_BAD_FILE:
            raise ValueError(f"data.on_bad_file must be one of {list(ON_BAD_FILE)}, got {on_bad_file!r}")
        index = {name: i for i, name in enumerate(classes)}
        # Decoding up front keeps epochs free of I/O; workers forked later share these tensors.
        with ThreadPoolExecutor(max(1, threads)) as pool:
            loaded = list(pool.map(lambda r: _try_load(load, r.path), rows))
        self.rows: list[Utterance] = []
        self.waveforms: list[torch.Tensor] = []
        self.skipped: list[Skipped] = []
        for row, wave in zip(rows, loaded):
            if isinstance(wave, AudioError):
                if on_bad_file == "error":
                    raise AudioError(wave.path, f"{wave.reason} (set data.on_bad_file=skip to leave such files out)")
                self.skipped.append(Skipped(row.id, str(row.path), wave.reason))
            else:
                self.rows.append(row)
                self.waveforms.append(wave if transform is None else transform(wave, row.id))
        if self.skipped:
            log.warning("skipped %d unusable file(s), e.g. %s", len(self.skipped), self.skipped[0])
        self.targets = [index[r.label] for r in self.rows]
        # Corpus indices must agree across splits, so the caller passes the full corpus list.
        corpora = corpora or sorted({r.corpus for r in rows})
        self.aux = [auxiliary_targets(r, corpora, t) for r, t in zip(self.rows, self.targets)]
        self.max_samples = max_samples
        # versions[v][i]: version v of utterance i; version 0 is the decoded file, others come from add_versions
        self.versions: list[list[torch.Tensor]] = [self.waveforms]
        # stream name -> (versions, utterances, *shape), set by the datamodule for each of data.streams
        self.vectors: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add_versions(self, make: Callable[[torch.Tensor], list[torch.Tensor]]) -> None:
        """Add the copies `make` returns for each utterance; training draws one version per utterance per epoch."""
        copies = [make(wave) for wave in self.waveforms]
        self.versions += [list(version) for version in zip(*copies)]

    @property
    def lengths(self) -> list[int]:
        """Samples per example as served (after cropping), for length bucketing; speed copies are
        bucketed by their original's length."""
        return [min(len(w), self.max_samples or len(w)) for w in self.waveforms]

    def __getitem__(self, key: int | Draw) -> Example:
        """An example; a `Draw` fixes its version and where a long one is cropped, a bare index draws both anew."""
        i = key.index if isinstance(key, Draw) else key
        rng = random.Random(key.seed) if isinstance(key, Draw) else None
        v = _pick(rng, len(self.versions)) if len(self.versions) > 1 else 0
        wave = self.versions[v][i]
        if self.max_samples and len(wave) > self.max_samples:
            start = _pick(rng, len(wave) - self.max_samples + 1)
            wave = wave[start : start + self.max_samples]
        vectors = {name: values[v, i] for name, values in self.vectors.items()}
        return Example(self.rows[i].id, wave, self.targets[i], self.aux[i], self.rows[i].speaker, vectors)
