"""Samplers for evaluation under data parallelism."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import DistributedSampler


class ShardSampler(DistributedSampler):
    """Every utterance goes to exactly one process: no padding, no duplicates.

    torch's DistributedSampler repeats utterances so all ranks get equal counts, which would
    score some test utterances twice; evaluation needs no equal counts, so shards may differ by one.
    Subclassing DistributedSampler keeps Lightning from wrapping it in a padding sampler.
    """

    def __init__(self, dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(self.dataset), self.num_replicas))
