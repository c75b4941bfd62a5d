import pytest
import torch

from serlab.models.crnn import CRNN
from serlab.regularizers.dropout import Dropout


def test_output_shape():
    model = CRNN(n_features=40, n_classes=5)
    out = model(torch.randn(3, 40, 101), torch.tensor([101, 50, 7]))
    assert out.logits.shape == (3, 5)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_padding_never_changes_a_prediction(rnn):
    torch.manual_seed(0)
    model = CRNN(n_features=32, n_classes=4, rnn=rnn, rnn_layers=2).eval()
    feats = [torch.randn(32, n) for n in (37, 64, 5, 1)]
    alone = torch.cat([model(f[None], torch.tensor([f.shape[1]])).logits for f in feats])
    batch = torch.zeros(len(feats), 32, 90)
    for i, f in enumerate(feats):
        batch[i, :, : f.shape[1]] = f
    batched = model(batch, torch.tensor([f.shape[1] for f in feats])).logits
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)


def test_overfits_a_small_batch():
    torch.manual_seed(0)
    model = CRNN(n_features=24, n_classes=4, channels=(8, 16), pools=((2, 2), (2, 2)), hidden=32)
    x, lengths, y = torch.randn(8, 24, 40), torch.randint(20, 41, (8,)), torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(x, lengths).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_bad_rnn_name_is_refused():
    with pytest.raises(ValueError, match="model.rnn"):
        CRNN(n_features=8, n_classes=2, rnn="transformer")


def test_dropout_regularizer_sets_rates():
    model = CRNN(n_features=16, n_classes=3, rnn_layers=2)
    Dropout(p=0.4, recurrent_p=0.2).attach(model)
    assert model.dropout.p == 0.4 and model.rnn.dropout == 0.2
