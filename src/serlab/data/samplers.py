"""Length-bucketed batching, sharded across data-parallel processes."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler


@dataclass(frozen=True)
class Draw:
    """One training example to serve: its index and the seed of its random crop."""

    index: int
    seed: int


class LengthBatchSampler(Sampler[list[int] | list[Draw]]):
    """Batches of similar-length utterances, so padding stays small.

    Training (`shuffle=True`): each epoch shuffles, sorts within pools of `pool` batches, cuts
    batches and shuffles their order; every process gets the same number of batches. Batches hold
    `Draw`s whose crop seeds, like the order, depend only on (seed, epoch), so data randomness does
    not depend on the number of loader workers or on where a run was resumed. With `groups` (one label per
    utterance, e.g. its corpus), each epoch draws every group as often as the largest: the utterances of a
    smaller group each come at least once, and as many again as fit, the last round drawn at random.
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
        groups: Sequence[Hashable] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        if groups is not None and len(groups) != len(lengths):
            raise ValueError(f"{len(groups)} group labels for {len(lengths)} utterances")
        self.lengths = list(lengths)
        self.groups = None if groups is None else list(groups)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.pool = max(1, pool)
        self.seed = seed
        self.epoch = 0
        self.resumed = (0, 0)  # (epoch, batches of it already trained)

    @property
    def sampler(self) -> LengthBatchSampler:
        """Itself: Lightning sets each epoch through `loader.batch_sampler.sampler.set_epoch`."""
        return self

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this each epoch so shuffles differ between epochs but agree across processes."""
        self.epoch = epoch

    def resume_at(self, epoch: int, done: int) -> None:
        """Start at `epoch`, leaving out its first `done` batches (a run resumed mid-epoch)."""
        self.epoch = epoch
        self.resumed = (epoch, done)

    def _cut(self, indices: list[int]) -> list[list[int]]:
        batches = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _batches(self) -> Sequence[list[int] | list[Draw]]:
        if not self.shuffle:
            shard = range(self.rank, len(self.lengths), self.num_replicas)
            return self._cut(sorted(shard, key=lambda i: self.lengths[i]))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        # draws[p]: the utterance served at position p; batches are cut from positions, so a repeated
        # utterance gets a crop seed of its own each time
        draws = self._draws(g)
        order = torch.randperm(len(draws), generator=g).tolist()
        span = self.batch_size * self.pool
        batches = []
        for start in range(0, len(order), span):
            batches += self._cut(sorted(order[start : start + span], key=lambda p: self.lengths[draws[p]]))
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        per_rank = len(batches) // self.num_replicas if self.num_replicas > 1 else len(batches)
        seeds = torch.randint(2**31 - 1, (len(draws),), generator=g).tolist()
        mine = batches[self.rank :: self.num_replicas][:per_rank]
        return [[Draw(draws[p], seeds[p]) for p in batch] for batch in mine]

    def _draws(self, g: torch.Generator) -> list[int]:
        """This epoch's utterances: each once, or with `groups`, every group topped up to the largest's count."""
        if self.groups is None:
            return list(range(len(self.lengths)))
        members: dict[Hashable, list[int]] = {}
        for i, group in enumerate(self.groups):
            members.setdefault(group, []).append(i)
        target = max((len(indices) for indices in members.values()), default=0)
        draws = []
        for indices in members.values():
            rounds, extra = divmod(target, len(indices))
            draws += indices * rounds
            if extra:  # drawing nothing keeps the generator, so a single group changes nothing
                draws += [indices[j] for j in torch.randperm(len(indices), generator=g)[:extra].tolist()]
        return draws

    def __iter__(self) -> Iterator[list[int] | list[Draw]]:
        batches = self._batches()
        epoch, done = self.resumed
        if self.epoch == epoch:
            batches = batches[done:]
        return iter(batches)

    def __len__(self) -> int:
        return len(self._batches())
