"""The fusion model: both branches count, padding does not, and functionals are standardised on training data."""

import torch

from serlab.models.fusion import Fusion

N_FEATURES, N_FUNCTIONALS = 24, 10


def small(n_classes: int = 4) -> Fusion:
    torch.manual_seed(0)
    return Fusion(
        N_FEATURES, n_classes, N_FUNCTIONALS, channels=(8, 16), pools=((2, 2), (2, 2)), hidden=16, functionals_hidden=8
    )


def test_padding_never_changes_a_prediction():
    model = small().eval()
    feats = [torch.randn(N_FEATURES, t) for t in (37, 6, 64)]
    functionals = torch.randn(3, N_FUNCTIONALS)
    alone = torch.cat(
        [model(f[None], torch.tensor([f.shape[1]]), functionals[i : i + 1]).logits for i, f in enumerate(feats)]
    )
    batch = torch.zeros(3, N_FEATURES, 80)
    for i, f in enumerate(feats):
        batch[i, :, : f.shape[1]] = f
    torch.testing.assert_close(model(batch, torch.tensor([37, 6, 64]), functionals).logits, alone, atol=1e-4, rtol=1e-4)


def test_the_head_reads_the_functionals():
    model = small().eval()
    x, lengths = torch.randn(2, N_FEATURES, 30), torch.tensor([30, 30])
    a = model(x, lengths, torch.zeros(2, N_FUNCTIONALS)).logits
    b = model(x, lengths, torch.randn(2, N_FUNCTIONALS) * 3).logits
    assert not torch.allclose(a, b)


def test_overfits_on_functionals_alone_when_frames_carry_nothing():
    model = small()
    y = torch.arange(8) % 4
    functionals = torch.randn(8, N_FUNCTIONALS) + torch.nn.functional.one_hot(y, N_FUNCTIONALS) * 3
    x, lengths = torch.zeros(8, N_FEATURES, 20), torch.full((8,), 20)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(x, lengths, functionals).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_statistics_standardise_and_survive_a_checkpoint():
    model = small()
    train = torch.randn(50, N_FUNCTIONALS) * 5 + 2
    train[:, 3] = 7.0  # a constant functional must not divide by zero
    model.functionals.set_statistics(train)
    standardised = (train - model.functionals.mean) / model.functionals.std
    torch.testing.assert_close(standardised[:, [0, 1]].mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    assert torch.all(standardised[:, 3] == 0)
    restored = small()
    restored.load_state_dict(model.state_dict())
    torch.testing.assert_close(restored.functionals.std, model.functionals.std)


def test_without_a_hidden_layer_the_head_reads_the_standardised_functionals():
    model = Fusion(N_FEATURES, 3, N_FUNCTIONALS, channels=(8,), pools=((2, 2),), hidden=8, functionals_hidden=0)
    assert model.head.in_features == model.encoder.out_features + N_FUNCTIONALS
    out = model.eval()(torch.randn(2, N_FEATURES, 12), torch.tensor([12, 7]), torch.randn(2, N_FUNCTIONALS))
    assert out.logits.shape == (2, 3)
