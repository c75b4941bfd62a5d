"""EMA weight averaging: what validation, checkpoints and tests see."""

from __future__ import annotations

import csv
import json
from typing import ClassVar

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from serlab.cli.eval import evaluate
from serlab.cli.train import train
from serlab.training.weight_averaging import EMAWeights
from tests.conftest import compose_train


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_ema_refuses_a_decay_outside_0_1(decay):
    with pytest.raises(ValueError, match="callbacks.ema.decay"):
        EMAWeights(decay=decay)


def test_ema_joins_the_default_callbacks(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "callbacks=[default,ema]", "callbacks.ema.decay=0.9")
    assert cfg.callbacks.ema == {"_target_": "serlab.training.weight_averaging.EMAWeights", "decay": 0.9}
    assert {"model_checkpoint", "early_stopping"} <= set(cfg.callbacks) and list(cfg.regularizer) == ["dropout"]


@pytest.mark.slow
def test_checkpoint_holds_the_average_and_test_scores_it(tmp_path, data_dir):
    cfg = compose_train(
        tmp_path / "a", data_dir, "debug=limit", "trainer.max_epochs=2", "trainer.limit_test_batches=1.0",
        "callbacks=[default,ema]", "frontend.normalize=speaker",
    )  # fmt: skip
    train(cfg)
    run = tmp_path / "a" / "run"
    best = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    averaged, current = best["state_dict"], best["current_model_state"]
    weights = [k for k, v in averaged.items() if k.endswith("weight")]
    assert any(not torch.equal(averaged[k], current[k]) for k in weights), "the checkpoint holds the raw weights"
    # per-speaker statistics live outside tensors; the averaged state must still carry them
    assert averaged["frontend.norm._extra_state"].keys() == current["frontend.norm._extra_state"].keys() != set()

    # serlab-eval reads state_dict: the same scores and predictions mean training tested the average too
    trained = json.loads((run / "metrics.json").read_text())
    metrics = evaluate(
        compose_train(tmp_path / "b", data_dir, f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", config_name="eval")
    )
    assert metrics["test/loss"] == pytest.approx(trained["metrics"]["test/loss"], abs=1e-6)
    with open(run / "predictions.csv") as a, open(tmp_path / "b" / "run" / "predictions.csv") as b:
        assert list(csv.DictReader(a)) == list(csv.DictReader(b))



class RecordStartWeights(Callback):
    """Test-only callback: the module's weights when each training epoch starts."""

    seen: ClassVar[list[dict[str, torch.Tensor]]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        RecordStartWeights.seen.append(
            {k: v.clone() for k, v in pl_module.state_dict().items() if k.endswith("weight")}
        )


@pytest.mark.slow
def test_resumed_fit_continues_from_the_raw_weights(tmp_path, data_dir):
    train(compose_train(tmp_path / "a", data_dir, "debug=limit", "trainer.max_epochs=1", "callbacks=[default,ema]"))
    last = tmp_path / "a" / "run" / "checkpoints" / "last.ckpt"
    RecordStartWeights.seen.clear()
    spy = f"+callbacks.spy._target_={__name__}.RecordStartWeights"
    train(compose_train(tmp_path / "b", data_dir, "debug=limit", "trainer.max_epochs=2", "callbacks=[default,ema]",
                        f"ckpt_path={last}", spy))  # fmt: skip
    saved = torch.load(last, map_location="cpu", weights_only=True)
    (resumed,) = RecordStartWeights.seen
    assert all(torch.equal(resumed[k], saved["current_model_state"][k]) for k in resumed)
    assert any(not torch.equal(resumed[k], saved["state_dict"][k]) for k in resumed)


def test_averaging_trains_with_class_weights_set_at_fit_start(tmp_path, data_dir):
    # the class weights appear after the average's copy is made, and must not shift its pairing of the
    # module's tensors: the stream normaliser registered after the loss would meet a tensor of another size
    fusion = ["model=fusion", "data/streams/functionals=egemaps", "model.vector_hidden=8", "model.hidden=16"]
    cfg = compose_train(tmp_path, data_dir, "debug=limit", "trainer.max_epochs=1", "callbacks=[default,ema]",
                        "loss.class_weights=balanced", *fusion)  # fmt: skip
    assert 0.0 <= train(cfg)["test/uar"] <= 1.0
