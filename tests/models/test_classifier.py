"""The contract every model keeps: shapes, padding invariance, and the capacity to overfit."""

import pytest
import torch
from lightning import Trainer

from serlab.config_check import ConfigError
from serlab.models.blstm import BLSTM
from serlab.models.crnn import CRNN
from serlab.models.e2e import E2E
from serlab.models.multitask import MultiTask
from serlab.models.sequence import stack_frames
from serlab.models.transformer import SelfAttention
from serlab.training.build import build_datamodule
from tests.options import MODELS, build_model, build_pairing, pairings

# Settings past a model's defaults that change how it handles padding (packed LSTMs, stacked frames, pooling).
SETTINGS = [
    ("crnn", ["model.rnn=lstm", "model.rnn_layers=2"]),
    ("crnn", ["model/pooling=stats"]),
    ("blstm", ["model.layers=2", "model.subsample=3"]),
]


def first_batch(cfg):
    """One training batch of the tiny corpus, as the model sees it in training."""
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    return next(iter(datamodule.train_dataloader()))


@pytest.mark.parametrize(
    ("model", "overrides"), [(m, []) for m in MODELS] + SETTINGS, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_padding_never_changes_a_prediction(tmp_path, data_dir, model, overrides):
    torch.manual_seed(0)
    cfg, module = build_model(tmp_path, data_dir, model, *overrides)
    module.eval()
    batch = first_batch(cfg)
    functionals = [None] * len(batch) if batch.functionals is None else batch.functionals[:, None]
    alone = torch.cat(
        [module(w[None, :n], n[None], s, f).logits for w, n, s, f in zip(batch.waveforms, batch.lengths, batch.speakers, functionals)]
    )
    assert len(set(batch.lengths.tolist())) > 1, "the batch must hold utterances of several lengths"
    output = module(batch.waveforms, batch.lengths, batch.speakers, batch.functionals)
    assert output.logits.shape == (len(batch), len(module.classes))
    torch.testing.assert_close(output.logits, alone, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_overfits_a_small_batch(tmp_path, data_dir, model):
    cfg, module = build_model(tmp_path, data_dir, model, "debug=overfit", "optimizer.lr=3e-3", "trainer.max_epochs=150")
    datamodule = build_datamodule(cfg)
    trainer = Trainer(max_epochs=cfg.trainer.max_epochs, overfit_batches=1, limit_val_batches=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    assert float(trainer.callback_metrics["train/loss_step"]) < 0.1


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
    batch = first_batch(cfg)
    out = module.eval()(batch.waveforms, batch.lengths, batch.speakers, batch.functionals)
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
