"""Length-aware poolings: what each returns on valid frames, and the model/pooling group on every model that
takes it."""

import pytest
import torch

from serlab.models.pooling import AttentivePooling, MeanPooling, StatsPooling
from serlab.training.build import build_module, check_config
from tests.conftest import compose_train


def sequences() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(3, 9, 5)
    x[1, 4:] = 100.0  # padding that must not leak into any statistic
    return x, torch.tensor([9, 4, 1])


def test_stats_pooling_is_mean_and_std_of_the_valid_frames():
    x, lengths = sequences()
    out = StatsPooling(5, eps=0.0)(x, lengths)
    assert out.shape == (3, 10)
    for i, n in enumerate(lengths.tolist()):
        valid = x[i, :n]
        torch.testing.assert_close(out[i, :5], valid.mean(0))
        torch.testing.assert_close(out[i, 5:], valid.std(0, unbiased=False))


def test_stats_pooling_of_one_frame_has_a_finite_gradient():
    x = torch.randn(1, 1, 4, requires_grad=True)
    StatsPooling(4)(x, torch.tensor([1])).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    "pooling", [MeanPooling(5), StatsPooling(5), AttentivePooling(5), AttentivePooling(5, hidden=3)]
)
def test_every_pooling_ignores_padding_and_says_its_size(pooling):
    x, lengths = sequences()
    out = pooling(x, lengths)
    assert out.shape == (3, pooling.out_features)
    alone = pooling(x[1:2, :4], lengths[1:2])
    torch.testing.assert_close(out[1:2], alone)


@pytest.mark.parametrize("model", ["crnn", "blstm", "multitask", "fusion"])
@pytest.mark.parametrize("pooling", ["mean", "stats", "attention"])
def test_model_pooling_option_builds_the_chosen_pooling(tmp_path, data_dir, model, pooling):
    extra = ["data/streams/functionals=egemaps"] if model == "fusion" else []
    loss = ["loss=multitask"] if model == "multitask" else []
    cfg = compose_train(tmp_path, data_dir, f"model={model}", f"model/pooling={pooling}", *extra, *loss)
    check_config(cfg)
    module = build_module(cfg, ["a", "b", "c"])
    expected = {"mean": MeanPooling, "stats": StatsPooling, "attention": AttentivePooling}[pooling]
    assert isinstance(module.model.pooling, expected)
    channels = module.model.encoder.out_features
    assert module.model.pooling.out_features == (2 * channels if pooling == "stats" else channels)
