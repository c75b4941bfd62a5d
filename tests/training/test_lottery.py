"""Lottery tickets: rounds of pruning by magnitude, rewinding to early values kept in checkpoints, and retraining."""

from __future__ import annotations

import json

import pytest
import torch

from serlab.cli.train import train
from serlab.config_check import ConfigError
from serlab.training.lottery import LotteryTicket
from tests.conftest import compose_train

FAULTS = "tests.training.faults"


def test_the_rounds_prune_a_rate_of_the_survivors_at_each_rounds_start():
    lottery = LotteryTicket(rounds=3, rate=0.5, round_epochs=4)
    due = {epoch: lottery.due(epoch) for epoch in range(20)}
    assert {e: s for e, s in due.items() if s is not None} == {4: 0.5, 8: 0.75, 12: 0.875}
    assert lottery.target == 0.875 and lottery.last_step == 12


def test_rounds_that_do_not_fit_the_epochs_are_refused(tmp_path, data_dir):
    with pytest.raises(ConfigError, match="rate=1.5"):
        LotteryTicket(rate=1.5)
    cfg = compose_train(tmp_path, data_dir, "pruning=lottery", "pruning.rounds=3", "pruning.rewind_epoch=2",
                        "trainer.max_epochs=8")  # fmt: skip
    with pytest.raises(ConfigError, match="3 rounds of 2 epochs, rewinding to epoch 2"):
        train(cfg)


def test_each_round_starts_from_the_rewind_values_kept_through_resuming(tmp_path, data_dir):
    # one round: train epochs 0-1 (the rewind point after epoch 0), prune half and rewind as epoch 2 starts
    settings = ["pruning=lottery", "pruning.rounds=1", "pruning.rate=0.5", "pruning.rewind_epoch=1",
                "pruning.round_epochs=2", "trainer.max_epochs=4", "callbacks=final_weights"]  # fmt: skip

    def look(epoch: int) -> list[str]:
        path = tmp_path / f"epoch{epoch}.pt"
        return [f"+callbacks.look._target_={FAULTS}.ParametersAt", f"+callbacks.look.epoch={epoch}",
                f"+callbacks.look.path={path}"]  # fmt: skip

    stop = [f"+callbacks.stop._target_={FAULTS}.StopAfter", "+callbacks.stop.epoch=1"]
    train(compose_train(tmp_path, data_dir, *settings, *look(1), *stop, "test=false"))
    middle = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    rewind = middle["callbacks"]["LotteryTicket"]["rewind_values"]
    # the rewind point: every parameter as it was after one epoch, kept in the checkpoint
    early = torch.load(tmp_path / "epoch1.pt", weights_only=True)
    assert early["optimizer_states"] > 0 and rewind.keys() == early["parameters"].keys()
    assert all(torch.equal(rewind[name], value) for name, value in early["parameters"].items())

    train(compose_train(tmp_path, data_dir, *settings, *look(2), "ckpt_path=last"))
    started = torch.load(tmp_path / "epoch2.pt", weights_only=True)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    masks = last["callbacks"]["LotteryTicket"]["masks"]
    assert masks and started["optimizer_states"] == 0  # a fresh optimizer for the round
    for name, value in started["parameters"].items():
        expected = rewind[name] * masks[name] if name in masks else rewind[name]
        assert torch.equal(value, expected), name
    for name, mask in masks.items():
        assert 0.5 <= 1 - mask.float().mean() < 0.51 and (rewind[name][~mask] != 0).any(), name
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["pruning"]
    assert record["target_sparsity"] == 0.5 and record["sparsity"] == pytest.approx(0.5, abs=0.01)
