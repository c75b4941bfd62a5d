"""The reconstruction autoencoder: learns what it is fitted on, repeats itself, never trains with the classifier."""

from __future__ import annotations

import pytest
import torch

from serlab.config_check import ConfigError
from serlab.features.reconstruction import STREAM, Autoencoder

SHAPES = {"functionals": (12,), "embeddings": (2, 3)}


def low_rank(n: int, seed: int) -> dict[str, torch.Tensor]:
    """`n` standardised-looking values of both streams (unit variance) that lie near one 3-dimensional subspace."""
    generator = torch.Generator().manual_seed(seed)
    basis = torch.randn(3, 18, generator=torch.Generator().manual_seed(0)) / 3**0.5
    joined = torch.randn(n, 3, generator=generator) @ basis + 0.1 * torch.randn(n, 18, generator=generator)
    return {"functionals": joined[:, :12], "embeddings": joined[:, 12:].reshape(n, 2, 3)}


def fitted(seed: int = 0, **settings) -> Autoencoder:
    autoencoder = Autoencoder(SHAPES, sources=["functionals", "embeddings"], code=4, epochs=30, seed=seed, **settings)
    autoencoder.fit(low_rank(200, seed=1))
    return autoencoder


def test_inputs_like_the_training_values_are_reconstructed_better_than_shifted_ones():
    autoencoder = fitted()
    like = low_rank(100, seed=2)
    # off the training values' subspace, as far as those values lie from their mean
    shifted = {name: values + torch.randn_like(values) for name, values in like.items()}
    with torch.no_grad():
        assert autoencoder.errors(like).shape == (100, 18) == (100, *autoencoder.shape)
        assert autoencoder.errors(like).square().mean() * 5 < autoencoder.errors(shifted).square().mean()
        novelty_like, novelty_shifted = autoencoder.novelty(like), autoencoder.novelty(shifted)
    # relative to the median training utterance: held-out ones of the same kind stay near 1
    assert 0.5 < novelty_like.median() < 2 and novelty_shifted.median() > 5 * novelty_like.median()


def test_the_stream_joins_the_standardised_streams_as_the_absolute_error_of_each_value():
    autoencoder = fitted()
    values = low_rank(5, seed=3)
    with torch.no_grad():
        joined = torch.cat([values["functionals"], values["embeddings"].flatten(1)], dim=1)
        streams = autoencoder.with_stream(values)
    assert set(streams) == {"functionals", "embeddings", STREAM}
    torch.testing.assert_close(streams[STREAM], (joined - autoencoder(joined)).abs())


def test_fitting_depends_on_the_seed_alone_and_leaves_the_runs_draws_unchanged():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first, again, other = fitted(seed=0), fitted(seed=0), fitted(seed=1)
    torch.testing.assert_close(torch.rand(3), expected)
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert not torch.equal(first.decoder.weight, other.decoder.weight)


def test_its_weights_never_train_with_the_classifier():
    built = Autoencoder(SHAPES, code=4)
    assert built.needs_statistics and not any(p.requires_grad for p in built.parameters())
    autoencoder = fitted()
    assert not autoencoder.needs_statistics and not any(p.requires_grad for p in autoencoder.parameters())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sources": ["egemaps"]}, r"^reconstruction.sources: .*\['egemaps'\].*data.streams.functionals.*add the data"),
        ({"sources": []}, r"^reconstruction.sources: "),
        ({"code": 0}, r"^reconstruction.code must be >= 1, got 0$"),
        ({"epochs": 0}, r"^reconstruction.epochs must be >= 1"),
        ({"noise": -0.1}, r"^reconstruction.noise must be >= 0"),
        ({"lr": 0.0}, r"^reconstruction.lr must be > 0"),
    ],
)
def test_settings_it_cannot_take_are_refused_naming_the_key(settings, message):
    with pytest.raises(ConfigError, match=message):
        Autoencoder(SHAPES, **settings)


def test_a_data_stream_may_not_take_the_name_of_its_stream():
    with pytest.raises(ConfigError, match=r"^data.streams.reconstruction: that name is the autoencoder's own stream"):
        Autoencoder({**SHAPES, STREAM: (3,)})
