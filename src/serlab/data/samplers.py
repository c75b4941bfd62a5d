"""Length-bucketed batching, sharded across data-parallel processes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthBatchSampler(Sampler[list[int]]):
    """Batches of similar-length utterances, so padding stays small.

    Training (`shuffle=True`): each epoch shuffles, sorts within pools of `pool` batches, cuts
    batches and shuffles their order; every process gets the same number of batches.
    Evaluation (`shuffle=False`): each process takes every `num_replicas`-th utterance, sorted by
    length, with no padding or repeats, so each utterance is scored exactly once.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        pool: int = 50,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.pool = max(1, pool)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this each epoch so shuffles differ between epochs but agree across processes."""
        self.epoch = epoch

    def _cut(self, indices: list[int]) -> list[list[int]]:
        batches = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _batches(self) -> list[list[int]]:
        if not self.shuffle:
            shard = range(self.rank, len(self.lengths), self.num_replicas)
            return self._cut(sorted(shard, key=lambda i: self.lengths[i]))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        span = self.batch_size * self.pool
        batches = []
        for start in range(0, len(order), span):
            batches += self._cut(sorted(order[start : start + span], key=lambda i: self.lengths[i]))
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        per_rank = len(batches) // self.num_replicas if self.num_replicas > 1 else len(batches)
        return batches[self.rank :: self.num_replicas][:per_rank]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())
