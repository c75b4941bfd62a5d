"""The fusion model: both branches count, padding does not, and it joins exactly the streams it names."""

import pytest
import torch

from serlab.models.fusion import Fusion

N_FEATURES, N_FUNCTIONALS = 24, 10
SHAPES = {"functionals": (N_FUNCTIONALS,)}


def small(n_classes: int = 4, **settings) -> Fusion:
    torch.manual_seed(0)
    settings = {"channels": (8, 16), "pools": ((2, 2), (2, 2)), "hidden": 16, "vector_hidden": 8, **settings}
    return Fusion(N_FEATURES, n_classes, SHAPES, **settings)


def joined(values: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"functionals": values}


def test_padding_never_changes_a_prediction():
    model = small().eval()
    feats = [torch.randn(N_FEATURES, t) for t in (37, 6, 64)]
    functionals = torch.randn(3, N_FUNCTIONALS)
    alone = torch.cat(
        [model(f[None], torch.tensor([f.shape[1]]), joined(functionals[i : i + 1])).logits for i, f in enumerate(feats)]
    )
    batch = torch.zeros(3, N_FEATURES, 80)
    for i, f in enumerate(feats):
        batch[i, :, : f.shape[1]] = f
    logits = model(batch, torch.tensor([37, 6, 64]), joined(functionals)).logits
    torch.testing.assert_close(logits, alone, atol=1e-4, rtol=1e-4)


def test_the_head_reads_the_functionals():
    model = small().eval()
    x, lengths = torch.randn(2, N_FEATURES, 30), torch.tensor([30, 30])
    a = model(x, lengths, joined(torch.zeros(2, N_FUNCTIONALS))).logits
    b = model(x, lengths, joined(torch.randn(2, N_FUNCTIONALS) * 3)).logits
    assert not torch.allclose(a, b)


def test_overfits_on_functionals_alone_when_frames_carry_nothing():
    model = small()
    y = torch.arange(8) % 4
    functionals = torch.randn(8, N_FUNCTIONALS) + torch.nn.functional.one_hot(y, N_FUNCTIONALS) * 3
    x, lengths = torch.zeros(8, N_FEATURES, 20), torch.full((8,), 20)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(x, lengths, joined(functionals)).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_one_branch_per_named_stream_each_of_its_own_shape():
    shapes = {"functionals": (N_FUNCTIONALS,), "embedding": (3, 6)}
    model = Fusion(N_FEATURES, 3, shapes, streams=["functionals", "embedding"], channels=(8,), pools=((2, 2),),
                   hidden=8, vector_hidden=0)  # fmt: skip
    assert model.reads == ("functionals", "embedding")
    assert model.head.in_features == model.pooling.out_features + N_FUNCTIONALS + 18
    vectors = {"functionals": torch.randn(2, N_FUNCTIONALS), "embedding": torch.randn(2, 3, 6)}
    out = model.eval()(torch.randn(2, N_FEATURES, 12), torch.tensor([12, 7]), vectors)
    assert out.logits.shape == (2, 3)


def test_a_stream_the_data_does_not_provide_is_refused_naming_the_option():
    with pytest.raises(ValueError, match=r"model.streams: .*\['egemaps'\].*data.streams.functionals.*add the data"):
        small(streams=["egemaps"])
    with pytest.raises(ValueError, match="model.vector_hidden must be >= 0"):
        small(vector_hidden=-1)
