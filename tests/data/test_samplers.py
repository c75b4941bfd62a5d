from collections import Counter

import pytest
from lightning.fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import DataLoader

from serlab.data.samplers import LengthBatchSampler


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (7, 3), (1, 2)])
def test_eval_shards_cover_every_index_exactly_once(n, world):
    lengths = [(i * 37) % 11 for i in range(n)]
    shards = [list(LengthBatchSampler(lengths, 3, shuffle=False, num_replicas=world, rank=r)) for r in range(world)]
    seen = sorted(i for shard in shards for batch in shard for i in batch)
    assert seen == list(range(n))
    for shard in shards:
        flat = [i for batch in shard for i in batch]
        assert [lengths[i] for i in flat] == sorted(lengths[i] for i in flat)


def test_training_batches_hold_similar_lengths_and_change_each_epoch():
    lengths = [(i * 7919) % 1000 for i in range(400)]
    sampler = LengthBatchSampler(lengths, 8, shuffle=True, pool=50)
    first = [[d.index for d in b] for b in sampler]
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first) / len(first)
    assert spread < 100  # random batches of 8 from 0..999 would spread about 780
    assert sorted(i for b in first for i in b) == list(range(400))
    sampler.set_epoch(1)
    assert [[d.index for d in b] for b in sampler] != first


def test_lightning_reaches_the_epoch_of_a_loader_batched_by_it():
    sampler = LengthBatchSampler(list(range(40)), 4, shuffle=True)
    _set_sampler_epoch(DataLoader(range(40), batch_sampler=sampler), 7)  # what the fit loop does each epoch
    assert sampler.epoch == 7


def test_training_draws_depend_only_on_seed_and_epoch_and_resume_mid_epoch():
    lengths = [(i * 7919) % 1000 for i in range(100)]
    sampler = LengthBatchSampler(lengths, 8, shuffle=True, seed=3)
    sampler.set_epoch(2)
    epoch_2 = list(sampler)
    assert len({d.seed for b in epoch_2 for d in b}) > 90  # each utterance gets its own crop seed

    resumed = LengthBatchSampler(lengths, 8, shuffle=True, seed=3)
    resumed.resume_at(2, done=5)
    assert list(resumed) == epoch_2[5:] and len(resumed) == len(epoch_2)
    resumed.set_epoch(3)
    sampler.set_epoch(3)
    assert list(resumed) == list(sampler)  # later epochs are whole again


def test_training_ranks_get_disjoint_equal_shares():
    lengths = list(range(101))
    shards = [
        list(LengthBatchSampler(lengths, 4, shuffle=True, drop_last=True, num_replicas=2, rank=r)) for r in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1])
    assert not {d.index for b in shards[0] for d in b} & {d.index for b in shards[1] for d in b}
    assert all(len(b) == 4 for s in shards for b in s)


def test_balanced_groups_are_drawn_equally_often_each_epoch_and_all_small_ones_come():
    groups = ["big"] * 90 + ["small"] * 20
    lengths = [(i * 7919) % 1000 for i in range(110)]
    sampler = LengthBatchSampler(lengths, 8, shuffle=True, groups=groups, seed=5)
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        draws = [d for b in sampler for d in b]
        assert Counter(groups[d.index] for d in draws) == {"big": 90, "small": 90}
        assert {d.index for d in draws} == set(range(110))
        assert len(set(draws)) == 180  # a repeated utterance gets a crop seed of its own
        epochs.append([[d.index for d in b] for b in sampler])
    assert epochs[0] != epochs[1]
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epochs[1]) / len(epochs[1])
    assert spread < 200  # still length-bucketed; random batches of 8 would spread about 780
    again = LengthBatchSampler(lengths, 8, shuffle=True, groups=groups, seed=5)
    again.set_epoch(1)
    assert [[d.index for d in b] for b in again] == epochs[1]  # depends only on seed and epoch


def test_balanced_groups_shard_across_ranks():
    groups = ["big"] * 90 + ["small"] * 20
    shards = [
        LengthBatchSampler(list(range(110)), 4, shuffle=True, drop_last=True, num_replicas=2, rank=r, groups=groups)
        for r in (0, 1)
    ]
    draws = [[d for b in shard for d in b] for shard in shards]
    assert len(draws[0]) == len(draws[1]) and not set(draws[0]) & set(draws[1])
    counts = Counter(groups[d.index] for shard in draws for d in shard)
    assert abs(counts["big"] - counts["small"]) <= 2 * 4 * 2  # a dropped or unshared batch per rank at most
    assert counts["big"] + counts["small"] >= 180 - 2 * 4 * 2


def test_without_groups_the_draws_are_unchanged():
    lengths = [(i * 7919) % 1000 for i in range(50)]
    plain = LengthBatchSampler(lengths, 8, shuffle=True, seed=1)
    one_group = LengthBatchSampler(lengths, 8, shuffle=True, seed=1, groups=["a"] * 50)
    assert list(plain) == list(one_group)
