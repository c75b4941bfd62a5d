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
