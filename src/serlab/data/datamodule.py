"""LightningDataModule for any corpus that yields manifest rows."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

import lightning as L
from torch.utils.data import DataLoader

from serlab.data.collate import Batch, pad_collate
from serlab.data.corpora.base import Corpus
from serlab.data.dataset import AudioDataset
from serlab.data.labels import LabelMap
from serlab.data.manifest import Utterance
from serlab.data.samplers import ShardSampler
from serlab.data.splits import SpeakerFolds, SpeakerSplit

log = logging.getLogger(__name__)


class SERDataModule(L.LightningDataModule):
    """Scans a corpus, relabels it, splits it by speaker and serves padded batches."""

    def __init__(
        self,
        corpus: Corpus,
        label_map: Mapping[str, str],
        split: SpeakerFolds,
        fold: int = 0,
        sample_rate: int = 16000,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        self.corpus = corpus
        self.label_map = LabelMap(dict(label_map))
        self.protocol = split
        self.fold = fold
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.loader_options = {
            "num_workers": num_workers,
            "pin_memory": pin_memory,
            "persistent_workers": persistent_workers and num_workers > 0,
        }
        self.rows: list[Utterance] = []
        self.dropped: Counter = Counter()
        self.speaker_split: SpeakerSplit | None = None
        self.datasets: dict[str, AudioDataset] = {}

    @property
    def classes(self) -> list[str]:
        """Class names in target-index order."""
        return self.label_map.classes

    def prepare_data(self) -> None:
        self.corpus.prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.speaker_split is None:
            self._assign_splits()
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage or "", ("train", "val", "test"))
        for side in wanted:
            if side not in self.datasets:
                rows = [r for r in self.rows if r.speaker in getattr(self.speaker_split, side)]
                self.datasets[side] = AudioDataset(rows, self.classes, self.sample_rate)

    def _assign_splits(self) -> None:
        scanned = self.corpus.scan()
        if not scanned:
            raise ValueError(f"data.corpus ({self.corpus.name}): the corpus has no utterances")
        self.rows, self.dropped = self.label_map.apply(scanned)
        if self.dropped:
            log.warning(
                "label map dropped %d utterance(s) with unmapped labels: %s",
                sum(self.dropped.values()),
                dict(self.dropped),
            )
        if not self.rows:
            raise ValueError(f"data.label_map maps none of the corpus labels {sorted(self.dropped)}")
        self.speaker_split = self.protocol.split(self.rows, self.fold)
        log.info(
            "fold %d: train speakers %s | val %s | test %s",
            self.fold,
            list(self.speaker_split.train),
            list(self.speaker_split.val),
            list(self.speaker_split.test),
        )

    def split_record(self) -> list[dict[str, str]]:
        """Which utterance went where: one row per kept utterance."""
        if self.speaker_split is None:
            self._assign_splits()
        return [
            {"id": r.id, "speaker": r.speaker, "label": r.label, "split": self.speaker_split.side_of(r.speaker) or "unused"}
            for r in self.rows
        ]

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def train_dataloader(self) -> DataLoader[Batch]:
        data = self.datasets["train"]
        return DataLoader(
            data,
            batch_size=self.batch_size,
            shuffle=True,
            # A final batch of one would break batch normalisation statistics.
            drop_last=len(data) > self.batch_size,
            collate_fn=pad_collate,
            **self.loader_options,
        )

    def _eval_loader(self, side: str) -> DataLoader[Batch]:
        data = self.datasets[side]
        world, rank = self._world()
        sampler = ShardSampler(data, world, rank) if world > 1 else None
        return DataLoader(
            data, batch_size=self.eval_batch_size, sampler=sampler, collate_fn=pad_collate, **self.loader_options
        )

    def val_dataloader(self) -> DataLoader[Batch]:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader[Batch]:
        return self._eval_loader("test")
