import pytest

from serlab.data.samplers import ShardSampler


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (7, 3), (1, 2)])
def test_shards_cover_every_index_exactly_once(n, world):
    data = list(range(n))
    shards = [list(ShardSampler(data, world, rank)) for rank in range(world)]
    assert sorted(i for shard in shards for i in shard) == data
    assert [len(ShardSampler(data, world, r)) for r in range(world)] == [len(s) for s in shards]
