"""Checkpoints are written atomically; unwritable run folders are refused before any data is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from serlab.cli.train import train
from serlab.errors import UserError
from serlab.training.checkpointing import AtomicCheckpointIO
from serlab.training.run_folder import RunFolderError
from tests.conftest import compose_train


def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "weights": torch.arange(4.0)}, path)
    written_to = []

    def fail_midway(obj, f) -> None:
        written_to.append(Path(f.name))
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", fail_midway)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"epoch": 2, "weights": torch.zeros(4)}, path)
    monkeypatch.undo()
    assert written_to[0].parent == path.parent  # same file system as the checkpoint: the rename is atomic
    previous = io.load_checkpoint(path)
    assert previous["epoch"] == 1 and torch.equal(previous["weights"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left behind


@pytest.mark.parametrize("trainer", ["cpu", "ddp_cpu"])
def test_every_trainer_writes_checkpoints_atomically(tmp_path, data_dir, trainer):
    cfg = compose_train(tmp_path, data_dir, f"trainer={trainer}")
    assert isinstance(instantiate(cfg.trainer).strategy.checkpoint_io, AtomicCheckpointIO)


@pytest.mark.parametrize("key", ["paths.output_dir", "callbacks.model_checkpoint.dirpath"])
def test_an_unwritable_run_folder_is_refused_before_training_naming_it(tmp_path, data_dir, key):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cfg = compose_train(tmp_path, data_dir, f"{key}={blocker / 'run'}")
    with pytest.raises(RunFolderError, match=f"run folder {blocker / 'run'} cannot be written"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_folder_holding_a_finished_run_is_refused_unless_resumed_or_overwritten(tmp_path, data_dir):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    with pytest.raises(UserError, match=r"finished run \(metrics.json\).*overwrite=true"):
        train(compose_train(tmp_path, data_dir, "debug=fdr"))
    assert (run / "metrics.json").read_text() == "{}"
    train(compose_train(tmp_path, data_dir, "debug=fdr", "overwrite=true"))
    assert "metrics" in json.loads((run / "metrics.json").read_text())


def test_final_weights_keeps_the_last_epochs_weights_trains_every_epoch_and_tests_them(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "callbacks=final_weights", "trainer.max_epochs=3")
    assert "early_stopping" not in cfg.callbacks
    train(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt"]
    kept = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    assert kept["epoch"] == 2
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert Path(record["checkpoint"]).name == "last.ckpt"
