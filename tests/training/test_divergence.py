"""A non-finite loss stops training with the epoch, step and utterances, and leaves the last good checkpoint."""

from __future__ import annotations

import pytest
import torch

from serlab.cli.train import train
from serlab.training.divergence import DivergenceError
from tests.conftest import compose_train

SHORT = ["trainer.max_epochs=2", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=1",
         "model.channels=[4,8]", "model.pools=[[2,2],[2,2]]", "model.hidden=16"]  # fmt: skip


@pytest.mark.slow
def test_a_nan_loss_stops_training_naming_the_batch_and_keeps_the_last_good_checkpoint(tmp_path, data_dir):
    record = tmp_path / "nan_batch.txt"
    fault = f"+callbacks.fault={{_target_:tests.training.faults.NaNAt,epoch:1,batch:1,record:{record}}}"
    cfg = compose_train(tmp_path, data_dir, *SHORT, fault)
    with pytest.raises(DivergenceError, match=r"epoch 1, step 5 \(batch 1 of the epoch\): the loss is nan") as err:
        train(cfg)
    ids = record.read_text().split()
    assert len(ids) == 8 and f"Utterances in the batch: {', '.join(ids)}." in str(err.value)

    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint is {last}" in str(err.value)
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert (saved["epoch"], saved["global_step"]) == (0, 3)  # written at the end of epoch 0, not since
    assert all(torch.isfinite(w).all() for w in saved["state_dict"].values() if w.is_floating_point())
