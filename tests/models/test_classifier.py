"""The contract every model keeps: shapes, padding invariance, and the capacity to overfit."""

from dataclasses import replace

import pytest
import torch

from serlab.config_check import ConfigError
from serlab.data.collate import Batch
from serlab.models.blstm import BLSTM
from serlab.models.crnn import CRNN
from serlab.models.e2e import E2E
from serlab.models.multitask import MultiTask
from serlab.models.output import ModelOutput
from serlab.models.sequence import stack_frames
from serlab.models.transformer import SelfAttention
from serlab.training.build import build_datamodule
from tests.options import MODELS, build_model, build_pairing, pairings

# Adam steps in which a small model fits eight 0.3 s utterances.
STEPS = 100
# Settings past a model's defaults that change how it handles padding (packed LSTMs, stacked frames, pooling).
SETTINGS = [
    ("crnn", ["model.rnn=lstm", "model.rnn_layers=2"]),
    ("crnn", ["model/pooling=stats"]),
    ("blstm", ["model.layers=2", "model.subsample=3"]),
]


def first_batch(cfg) -> Batch:
    """One training batch of the tiny corpus, as the model receives it in training."""
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    return next(iter(datamodule.train_dataloader()))


def select(batch: Batch, rows: slice) -> Batch:
    """Some rows of the batch, padded only as far as the longest of them."""
    lengths = batch.lengths[rows]
    return replace(
        batch,
        waveforms=batch.waveforms[rows, : int(lengths.max())],
        lengths=lengths,
        targets=batch.targets[rows],
        ids=batch.ids[rows],
        aux={k: v[rows] for k, v in batch.aux.items()},
        speakers=batch.speakers[rows],
        vectors={name: values[rows] for name, values in batch.vectors.items()},
    )


def cut(batch: Batch, lengths: tuple[int, ...] = (16000, 9000, 2400, 700)) -> Batch:
    """The batch's first utterances cut to very different lengths (the last under two frames), zero-padded."""
    batch, longest = select(batch, slice(len(lengths))), max(lengths)
    valid = torch.arange(longest) < torch.tensor(lengths)[:, None]
    return replace(batch, waveforms=batch.waveforms[:, :longest] * valid, lengths=torch.tensor(lengths))


def predict(module, batch: Batch) -> ModelOutput:
    """What the module predicts for the batch, as in validation and testing."""
    return module(batch.waveforms, batch.lengths, batch.speakers, batch.vectors)


@pytest.mark.parametrize(
    ("model", "overrides"),
    [(m, []) for m in MODELS] + SETTINGS,
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_padding_never_changes_a_prediction(tmp_path, data_dir, model, overrides):
    torch.manual_seed(0)
    cfg, module = build_model(tmp_path, data_dir, model, *overrides)
    batch = cut(first_batch(cfg))
    module.eval()
    alone = torch.cat([predict(module, select(batch, slice(i, i + 1))).logits for i in range(len(batch))])
    output = predict(module, batch)
    assert output.logits.shape == (len(batch), len(module.classes))
    torch.testing.assert_close(output.logits, alone, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_overfits_a_small_batch(tmp_path, data_dir, model):
    torch.manual_seed(0)
    # short crops and no dropout: the loop fits one fixed batch of eight utterances
    cfg, module = build_model(tmp_path, data_dir, model, "data.max_duration=0.3", "regularizer=[]", "optimizer.lr=3e-3")
    batch = first_batch(cfg)
    for name, norm in module.vector_norms.items():
        # openSMILE values span orders of magnitude; training standardises them (StreamStatistics)
        norm.set_statistics(batch.vectors[name])
    optimizer = module.optimizer_factory(params=module.parameters())
    for _ in range(STEPS):
        loss = module.loss(predict(module, batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1


@pytest.mark.parametrize("model", MODELS)
def test_every_pairing_builds_or_is_refused_saying_what_to_choose(tmp_path, data_dir, model):
    built = []
    for pairing in pairings(model):
        try:
            build_pairing(tmp_path, data_dir, pairing)
        except ConfigError as err:
            assert "\n" not in str(err) and "model=" in str(err) and ("choose" in str(err) or "functionals" in str(err))
        else:
            built.append(pairing)
    assert built, f"model={model} builds with no frontend"


@pytest.mark.parametrize("model", MODELS)
def test_frame_level_heads_score_every_frame_or_are_refused(tmp_path, data_dir, model):
    try:
        cfg, module = build_model(tmp_path, data_dir, model, "loss=ctc")
    except AssertionError as err:
        assert "no frame-level head" in str(err)
        return
    batch = cut(first_batch(cfg))
    out = predict(module.eval(), batch)
    assert out.logits is None and out.frame_logits.shape[::2] == (len(batch), len(module.classes) + 1)
    assert out.frame_lengths.max() == out.frame_logits.shape[1]
    longer = batch.lengths[:, None] > batch.lengths[None, :]
    assert torch.all((out.frame_lengths[:, None] >= out.frame_lengths[None, :]) | ~longer)


def test_multitask_has_one_head_per_task():
    model = MultiTask(24, 4, tasks={"gender": 2, "arousal": 1}, hidden=32, layers=1, subsample=2)
    out = model(torch.randn(3, 24, 20), torch.tensor([20, 10, 5]))
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
