"""LightningDataModule for any corpus that yields manifest rows."""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader

from serlab.data.audio import AudioSettings
from serlab.data.cache import AudioCache
from serlab.data.checks import CorpusError, EmptyClassError, UnusableFilesError, check_classes, file_problems
from serlab.data.collate import pad_collate, unlabelled_collate
from serlab.data.corpora.base import Corpus
from serlab.data.corpus_norm import CorpusStandardiser
from serlab.data.dataset import ON_BAD_FILE, AudioDataset, Example, Skipped
from serlab.data.labels import LabelMap
from serlab.data.manifest import Utterance
from serlab.data.perturb import SpeedPerturbation
from serlab.data.samplers import LengthBatchSampler
from serlab.data.splits import SpeakerSplit, SplitProtocol
from serlab.interfaces import VectorStream, check_interface

log = logging.getLogger(__name__)


class SERDataModule(L.LightningDataModule):
    """Scans a corpus, relabels it, splits it by speaker and serves length-bucketed padded batches."""

    def __init__(
        self,
        corpus: Corpus,
        label_map: Mapping[str, str],
        split: SplitProtocol,
        fold: int = 0,
        audio: AudioSettings | None = None,
        cache_dir: str | Path | None = None,
        on_bad_file: str = "error",
        max_duration: float | None = None,
        bucketing: bool = True,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        seed: int = 0,
        streams: Mapping[str, VectorStream] | None = None,
        perturb: SpeedPerturbation | None = None,
        balance_corpora: bool = False,
        streams_per_corpus: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise ValueError(f"data.eval_batch_size must be >= 1 or null (data.batch_size), got {eval_batch_size}")
        if fold < 0:
            # the upper bound depends on the protocol and the corpus: the split checks it before any audio is read
            raise ValueError(f"data.fold must be >= 0, got {fold}")
        if on_bad_file not in ON_BAD_FILE:
            raise ValueError(f"data.on_bad_file must be one of {list(ON_BAD_FILE)}, got {on_bad_file!r}")
        if max_duration is not None and max_duration <= 0:
            raise ValueError(f"data.max_duration must be positive seconds or null, got {max_duration}")
        check_interface(corpus, Corpus, "data.corpus")
        check_interface(split, SplitProtocol, "data.split")
        self.corpus = corpus
        self.label_map = LabelMap(dict(label_map))
        self.protocol = split
        self.fold = fold
        self.audio = audio or AudioSettings()
        self.cache = AudioCache(cache_dir, self.audio)
        self.on_bad_file = on_bad_file
        self.max_samples = round(max_duration * self.audio.sample_rate) if max_duration else None
        self.bucketing = bucketing
        self.balance_corpora = balance_corpora
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.seed = seed
        self.streams = dict(streams or {})
        for name, stream in self.streams.items():
            check_interface(stream, VectorStream, f"data.streams.{name}")
        # one standardiser per vector stream, fitted on the training side (data.streams_per_corpus)
        self.corpus_norms = {name: CorpusStandardiser(name) for name in self.streams} if streams_per_corpus else {}
        self.perturb = perturb
        # a degraded test condition (serlab-eval robustness.*): (waveform, utterance id) -> waveform
        self.test_condition: Callable[[torch.Tensor, str], torch.Tensor] | None = None
        self.loader_options: dict[str, Any] = {
            "num_workers": num_workers,
            "pin_memory": pin_memory,
            "persistent_workers": persistent_workers and num_workers > 0,
        }
        self.rows: list[Utterance] = []
        self.dropped: Counter = Counter()
        # files found unusable when the corpus was scanned (data.on_bad_file=skip)
        self.scan_skipped: list[Skipped] = []
        self.speaker_split: SpeakerSplit | None = None
        self.datasets: dict[str, AudioDataset] = {}
        # whether training also reads the test speakers' audio, labels withheld (`serve_unlabelled`)
        self.unlabelled = False

    @property
    def sample_rate(self) -> int:
        """The rate every waveform is brought to."""
        return self.audio.sample_rate

    @property
    def corpora(self) -> list[str]:
        """Names of the corpora in the data, in index order (the `corpus` task's classes)."""
        return sorted({r.corpus for r in self.rows})

    @property
    def classes(self) -> list[str]:
        """Class names in target-index order."""
        return self.label_map.classes

    def prepare_data(self) -> None:
        self.corpus.prepare()

    def serve_unlabelled(self) -> None:
        """From the next `setup` of fitting on, training batches come paired with unlabelled batches of the test
        speakers' audio (their labels never leave the data side), for domain adaptation and self-training."""
        self.unlabelled = True

    def setup(self, stage: str | None = None) -> None:
        if self.speaker_split is None:
            self._assign_splits()
        fit = ("train", "val", "unlabelled") if self.unlabelled else ("train", "val")
        wanted = {"fit": fit, "validate": ("val",), "test": ("test",)}.get(stage or "", (*fit, "test"))
        if self.corpus_norms:
            # per-corpus statistics come from the training side, so it is read first
            wanted = ("train", *(side for side in wanted if side != "train"))
        perturb = self.perturb
        split = self.speaker_split or self._assign_splits()
        for side in wanted:
            if side not in self.datasets:
                side_speakers = split.sides()["test" if side == "unlabelled" else side]
                rows = [r for r in self.rows if r.speaker in side_speakers]
                self.datasets[side] = AudioDataset(
                    rows,
                    self.classes,
                    self.cache.load,
                    self.on_bad_file,
                    max_samples=self.max_samples if side in ("train", "unlabelled") else None,
                    corpora=self.corpora,
                    transform=self.test_condition if side == "test" else None,
                )
                dataset = self.datasets[side]
                if side == "train":
                    # files skipped at decoding may leave a class without training utterances
                    check_classes(self.classes, dataset.rows, Counter(r.label for r in self.rows), self.dropped)
                if perturb is not None and side == "train":
                    dataset.add_versions(lambda wave: perturb(wave, self.sample_rate))
                    log.info("speed perturbation: %d training utterances at speeds 1 and %s, one drawn per epoch",
                             len(dataset), perturb.factors)  # fmt: skip
                speakers = [r.speaker for r in dataset.rows]
                corpora = [r.corpus for r in dataset.rows]
                for name, stream in self.streams.items():
                    values = torch.stack([stream(v, self.sample_rate, speakers) for v in dataset.versions])
                    if name in self.corpus_norms:
                        if side == "train":
                            self.corpus_norms[name].fit(values, corpora)
                        values = self.corpus_norms[name](values, corpora)
                    dataset.vectors[name] = values

    def degrade_test(self, condition: Callable[[torch.Tensor, str], torch.Tensor] | None) -> None:
        """Serve the test split through `condition` (None: clean) from the next `setup`; every stream is
        computed again from the degraded audio, so no input sees the clean files."""
        self.test_condition = condition
        self.datasets.pop("test", None)

    def check(self) -> None:
        """Prepare the corpus and cut this fold's speaker split, reading no audio: a wrong corpus folder or an
        impossible split fails here, before anything else is set up."""
        self.prepare_data()
        if self.speaker_split is None:
            self._assign_splits()

    def n_folds(self) -> int:
        """How many folds the split protocol makes of this corpus (reads its listing, no audio)."""
        return self.protocol.n_folds_for(self._labelled_rows())

    def _labelled_rows(self) -> list[Utterance]:
        if not self.rows:
            scanned = self.corpus.scan()
            if not scanned:
                raise CorpusError(f"data.corpus ({self.corpus.name}): the corpus has no utterances")
            labelled, self.dropped = self.label_map.apply(scanned)
            if self.dropped:
                log.warning(
                    "label map dropped %d utterance(s) with unmapped labels: %s",
                    sum(self.dropped.values()),
                    dict(self.dropped),
                )
            if not labelled:
                raise EmptyClassError(f"data.label_map maps none of the corpus labels {sorted(self.dropped)}")
            self.rows = self._usable(labelled)
        return self.rows

    def _usable(self, rows: list[Utterance]) -> list[Utterance]:
        """The rows whose files exist and have a sound header; the others stop the run before any training
        or, with data.on_bad_file=skip, are left out, counted and listed."""
        problems = file_problems(rows)
        if problems and (self.on_bad_file == "error" or len(problems) == len(rows)):
            raise UnusableFilesError(list(problems.values()))
        self.scan_skipped = [Skipped(r.id, str(r.path), problems[r.id].reason) for r in rows if r.id in problems]
        if self.scan_skipped:
            log.warning("skipped %d unusable file(s) found when scanning the corpus, e.g. %s",
                        len(self.scan_skipped), self.scan_skipped[0])  # fmt: skip
        return [r for r in rows if r.id not in problems]

    def _assign_splits(self) -> SpeakerSplit:
        self._labelled_rows()
        try:
            split = self.protocol.split(self.rows, self.fold)
        except ValueError as err:
            caveat = self.corpus.caveat
            raise type(err)(f"{err}. {caveat}" if caveat else str(err)) from err
        self.speaker_split = split
        train = [r for r in self.rows if r.speaker in split.train]
        check_classes(self.classes, train, Counter(r.label for r in self.rows), self.dropped)
        log.info(
            "fold %d: train speakers %s | val %s | test %s",
            self.fold,
            list(split.train),
            list(split.val),
            list(split.test),
        )
        return split

    def split_record(self) -> list[dict[str, str]]:
        """Which utterance went where: one row per kept utterance."""
        split = self._assign_splits() if self.speaker_split is None else self.speaker_split
        return [
            {
                "id": r.id,
                "speaker": r.speaker,
                "gender": r.gender,
                "label": r.label,
                "split": split.side_of(r.speaker) or "unused",
            }
            for r in self.rows
        ]

    def split_summary(self) -> dict[str, object]:
        """The fold, its speakers per side, utterance counts and what was dropped or skipped."""
        split = self.speaker_split or self._assign_splits()
        record = self.split_record()
        return {
            "corpus": self.corpus.name,
            "protocol": type(self.protocol).__name__,
            "mode": split.mode,
            "fold": self.fold,
            "speakers": {side: list(speakers) for side, speakers in split.sides().items()},
            "utterances": dict(Counter(r["split"] for r in record)),
            "dropped_labels": dict(self.dropped),
            "skipped_files": len(self.skipped()),
            "label_map": dict(self.label_map.mapping),
            # corpora whose stream statistics came from their own test audio (data.streams_per_corpus)
            "statistics_from_test_audio": sorted({c for norm in self.corpus_norms.values() for c in norm.unseen}),
        }

    def skipped(self) -> list[Skipped]:
        """Files left out as unusable: when the corpus was scanned, and when each split loaded so far was decoded."""
        # the unlabelled side holds the test speakers' files again
        decoded = [data for side, data in self.datasets.items() if side != "unlabelled"]
        return self.scan_skipped + [s for data in decoded for s in data.skipped]

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _loader(
        self, side: str, batch_size: int, shuffle: bool, resume: tuple[int, int] = (0, 0)
    ) -> DataLoader[Example]:
        data = self.datasets[side]
        world, rank = self._world()
        # Sorting by length only pays when lengths differ; bucketing=false keeps plain random batches.
        lengths = data.lengths if self.bucketing else [0] * len(data)
        balanced = self.balance_corpora and shuffle
        sampler = LengthBatchSampler(
            lengths,
            batch_size,
            shuffle=shuffle,
            groups=[r.corpus for r in data.rows] if balanced else None,
            # A final batch of one would break batch normalisation statistics; the unlabelled side keeps its last
            # batch, as a small target set split across processes could otherwise leave a process none.
            drop_last=shuffle and len(data) > batch_size and side != "unlabelled",
            num_replicas=world,
            rank=rank,
            seed=self.seed,
        )
        sampler.resume_at(*resume)
        collate = unlabelled_collate if side == "unlabelled" else pad_collate
        return DataLoader(data, batch_sampler=sampler, collate_fn=collate, **self.loader_options)

    def _resume_point(self) -> tuple[int, int]:
        """The epoch a fit starts at and how many of its batches a mid-epoch checkpoint had trained."""
        if self.trainer is None:
            return 0, 0
        loop = self.trainer.fit_loop
        done = loop.epoch_loop.batch_progress.current.completed if loop.restarting else 0
        if done:
            # The sampler continues the epoch where it stopped, so Lightning's warning about that does not apply.
            warnings.filterwarnings("ignore", "You're resuming from a checkpoint that ended before the epoch ended")
        # the loop's progress trackers are declared as a base class without `processed`
        return loop.epoch_progress.current.processed, done  # type: ignore[attr-defined]

    def labelled_dataloader(self) -> DataLoader[Example]:
        """The training utterances' batches (what the normalisers' statistics are gathered on)."""
        # Lightning builds this iterator before it sets the epoch, and does not rebuild it on resume.
        return self._loader("train", self.batch_size, shuffle=True, resume=self._resume_point())

    def train_dataloader(self) -> DataLoader[Example] | CombinedLoader:
        labelled = self.labelled_dataloader()
        if not self.unlabelled:
            return labelled
        # The epoch follows the labelled batches; the target's are drawn anew (and cycled) each epoch, so a run
        # resumed mid-epoch pairs the remaining labelled batches with a fresh target order.
        unlabelled = self._loader("unlabelled", self.batch_size, shuffle=True)
        return CombinedLoader({"labelled": labelled, "unlabelled": unlabelled}, mode="max_size_cycle")

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        # the paired loader's {"labelled", "unlabelled"} become one Batch carrying the other, so callbacks and the
        # training step read a Batch either way
        if isinstance(batch, Mapping):
            return replace(batch["labelled"], unlabelled=batch["unlabelled"])
        return batch

    def unlabelled_dataloader(self) -> DataLoader[Example]:
        """Every unlabelled target utterance once, labels withheld (what self-training labels)."""
        return self._loader("unlabelled", self.eval_batch_size, shuffle=False)

    def val_dataloader(self) -> DataLoader[Example]:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader[Example]:
        return self._loader("test", self.eval_batch_size, shuffle=False)
