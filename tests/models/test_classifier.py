"""The contract every model keeps: shapes, padding invariance, and the capacity to overfit."""

import pytest
import torch

from serlab.models.attention import AttentionRNN
from serlab.models.blstm import BLSTM
from serlab.models.crnn import CRNN
from serlab.models.e2e import E2E
from serlab.models.multitask import MultiTask
from serlab.models.pooling import StatsPooling
from serlab.models.sequence import stack_frames
from serlab.models.transformer import SelfAttention

N_FEATURES = {"spectral": 24, "waveform": 160}
MODELS = {
    "crnn_gru": lambda n, c, **kw: CRNN(n, c, channels=(8, 16), pools=((2, 2), (2, 2)), hidden=32, rnn="gru", **kw),
    "crnn_lstm": lambda n, c, **kw: CRNN(
        n, c, channels=(8, 16), pools=((2, 2), (2, 2)), hidden=32, rnn="lstm", rnn_layers=2, **kw
    ),
    "crnn_stats": lambda n, c, **kw: CRNN(
        n, c, channels=(8, 16), pools=((2, 2), (2, 2)), hidden=32, pooling=StatsPooling, **kw
    ),
    "blstm": lambda n, c, **kw: BLSTM(n, c, hidden=32, layers=2, **kw),
    "blstm_stacked": lambda n, c, **kw: BLSTM(n, c, hidden=32, layers=1, subsample=3, **kw),
    "attention": lambda n, c, **kw: AttentionRNN(n, c, hidden=32, layers=1, **kw),
    "self_attention": lambda n, c, **kw: SelfAttention(n, c, d_model=32, heads=2, layers=2, ff=64, **kw),
    "e2e": lambda n, c, **kw: E2E(n, c, filters=8, kernels=(8, 16), pools=(2, 4), hidden=32, **kw),
    "multitask": lambda n, c: MultiTask(n, c, tasks={"gender": 2, "arousal": 1}, hidden=32, layers=1, subsample=2),
}


def build(name: str, n_classes: int = 4, **kw):
    model = MODELS[name]
    kind = "waveform" if name == "e2e" else "spectral"
    return model(N_FEATURES[kind], n_classes, **kw), N_FEATURES[kind]


@pytest.mark.parametrize("name", MODELS)
def test_padding_never_changes_a_prediction(name):
    torch.manual_seed(0)
    model, n = build(name)
    model.eval()
    feats = [torch.randn(n, t) for t in (37, 64, 6, 1)]
    alone = torch.cat([model(f[None], torch.tensor([f.shape[1]])).logits for f in feats])
    batch = torch.zeros(len(feats), n, 90)
    for i, f in enumerate(feats):
        batch[i, :, : f.shape[1]] = f
    output = model(batch, torch.tensor([f.shape[1] for f in feats]))
    assert output.logits.shape == (4, 4)
    torch.testing.assert_close(output.logits, alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_overfits_a_small_batch(name):
    torch.manual_seed(0)
    model, n = build(name)
    x, lengths, y = torch.randn(8, n, 40), torch.randint(20, 41, (8,)), torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(model(x, lengths).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


@pytest.mark.parametrize("name", [m for m in MODELS if m != "multitask"])
def test_frame_level_heads_score_every_frame(name):
    model, n = build(name, n_classes=5, frame_level=True)
    out = model.eval()(torch.randn(2, n, 48), torch.tensor([48, 30]))
    assert out.logits is None and out.frame_logits.shape[::2] == (2, 5)
    assert out.frame_lengths.tolist()[0] == out.frame_logits.shape[1] and out.frame_lengths[1] < out.frame_lengths[0]


def test_multitask_has_one_head_per_task():
    model, n = build("multitask")
    out = model(torch.randn(3, n, 20), torch.tensor([20, 10, 5]))
    assert out.logits.shape == (3, 4) and out.heads["gender"].shape == (3, 2) and out.heads["arousal"].shape == (3, 1)


def test_stacking_groups_neighbouring_frames_and_counts_partial_groups():
    x = torch.arange(2 * 7 * 2, dtype=torch.float32).view(2, 7, 2)
    stacked, lengths = stack_frames(x, torch.tensor([7, 4]), 3)
    assert stacked.shape == (2, 3, 6) and lengths.tolist() == [3, 2]
    assert stacked[0, 0].tolist() == x[0, :3].flatten().tolist()
    # frames past an utterance's end read as zeros, whatever the padding held
    assert stacked[1, 1].tolist() == [*x[1, 3].tolist(), 0, 0, 0, 0]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="model.subsample"):
        BLSTM(8, 2, subsample=0)
    with pytest.raises(ValueError, match="model.rnn"):
        CRNN(8, 2, rnn="transformer")
    with pytest.raises(ValueError, match="divisible"):
        SelfAttention(8, 2, d_model=30, heads=4)
    with pytest.raises(ValueError, match="frontend=raw"):
        E2E(30, 2)
