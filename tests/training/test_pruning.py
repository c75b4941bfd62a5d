"""Magnitude pruning: masks to a target sparsity on a schedule, kept through optimizer steps, checkpoints and export."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from serlab.cli.export import export
from serlab.cli.train import train
from serlab.config_check import ConfigError
from serlab.training.pruning import MagnitudePruning, cubic_sparsity, prunable_weights
from tests.conftest import cli_overrides, compose_train, run_cli

FAULTS = "tests.training.faults"


def small_module() -> nn.Module:
    """Named as in a SERModule: a convolution before batch norm, a bidirectional GRU, a hidden layer and a head."""
    torch.manual_seed(0)
    model = nn.ModuleDict({
        "conv": nn.Conv2d(2, 8, 3), "norm": nn.BatchNorm2d(8), "rnn": nn.GRU(6, 10, bidirectional=True),
        "hidden": nn.Linear(20, 12), "head": nn.Linear(12, 4),
    })  # fmt: skip
    return nn.ModuleDict({"model": model})


def pruning_of(module: nn.Module, **options: Any) -> MagnitudePruning:
    """A MagnitudePruning set up on `module` outside a fit."""
    pruning = MagnitudePruning(**options)
    pruning.setup(SimpleNamespace(callbacks=[], max_epochs=100), module, "fit")  # type: ignore[arg-type]
    return pruning


def test_prunable_weights_are_the_matrices_of_conv_linear_and_recurrent_layers_but_the_head():
    names = set(prunable_weights(small_module(), ["model.*"], ["model.head.*"]))
    assert names == {
        "model.conv.weight", "model.hidden.weight", "model.rnn.weight_ih_l0", "model.rnn.weight_hh_l0",
        "model.rnn.weight_ih_l0_reverse", "model.rnn.weight_hh_l0_reverse",
    }  # fmt: skip


def test_the_schedule_rises_cubically_from_start_to_end_epoch():
    assert [cubic_sparsity(e, 0.8, 2, 6) for e in (0, 2, 6, 9)] == [0.0, 0.0, 0.8, 0.8]
    assert cubic_sparsity(4, 0.8, 2, 6) == pytest.approx(0.8 * (1 - 0.5**3))
    assert cubic_sparsity(3, 0.8, 2, 6) == pytest.approx(0.8 * (1 - 0.75**3))
    assert cubic_sparsity(5, 0.8, 5, 5) == 0.8  # one-shot
    pruning = MagnitudePruning(sparsity=0.8, start_epoch=1, end_epoch=8, every=3)
    due = {epoch: pruning.due(epoch) for epoch in range(12)}
    assert [e for e, s in due.items() if s is not None] == [1, 4, 7, 8]
    assert due[4] == pytest.approx(0.8 * (1 - (4 / 7) ** 3)) and due[8] == pytest.approx(0.8)


@pytest.mark.parametrize("structure", ["unstructured", "channels"])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_masks_reach_the_sparsity_lowest_magnitudes_first(scope, structure):
    module = small_module()
    pruning = pruning_of(module, sparsity=0.7, scope=scope, structure=structure, exclude=["model.head.*"])
    pruning.prune(0.7)
    weights = {name: w.detach() for name, w in pruning.weights.items()}
    for name, w in weights.items():
        assert torch.equal(w == 0, ~pruning.masks[name]), name
    # at least the sparsity, and short of it by less than one pruned unit (a weight or a row)
    unit = {name: w[0].numel() if structure == "channels" else 1 for name, w in weights.items()}
    groups = [list(weights)] if scope == "global" else [[name] for name in weights]
    for group in groups:
        zeros = sum(int((weights[n] == 0).sum()) for n in group)
        total = sum(weights[n].numel() for n in group)
        assert 0.7 <= zeros / total < 0.7 + max(unit[n] for n in group) / total, group
    for name, w in weights.items():
        rows = w.flatten(1)
        if structure == "channels":
            assert ((rows == 0).all(dim=1) | (rows != 0).all(dim=1)).all(), name
    if scope == "layer" and structure == "unstructured":
        originals = dict(small_module().named_parameters())
        for name, mask in pruning.masks.items():
            original = originals[name].detach()
            assert original[~mask].abs().max() <= original[mask].abs().min(), name
    assert all(torch.equal(p, q) for (n, p), (_, q) in zip(module.named_parameters(), small_module().named_parameters())
               if n not in weights)  # fmt: skip


def test_raising_the_sparsity_keeps_what_was_pruned():
    module = small_module()
    pruning = pruning_of(module, scope="global")
    pruning.prune(0.4)
    before = {name: mask.clone() for name, mask in pruning.masks.items()}
    with torch.no_grad():  # training moves the survivors, so that the order of magnitudes changes
        for w in pruning.weights.values():
            w.add_(torch.randn_like(w))
    pruning.prune(0.8)
    for name, mask in pruning.masks.items():
        assert not (mask & ~before[name]).any(), name
    assert pruning.sparsity() == pytest.approx(0.8, abs=0.01)


def test_weights_stay_pruned_after_optimizer_steps():
    module = small_module()
    pruning = pruning_of(module)
    pruning.prune(0.6)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    for _ in range(2):
        sum(p.sum() for p in module.parameters()).backward()
        optimizer.step()
        optimizer.zero_grad()
        # the step itself moves every pruned weight; the callback puts the zeros back
        assert all((w[~pruning.masks[n]] != 0).all() for n, w in pruning.weights.items())
        pruning.on_train_batch_end(None, module, None, None, 0)  # type: ignore[arg-type]
        assert all(torch.equal(w != 0, pruning.masks[n]) for n, w in pruning.weights.items())


def test_out_of_range_settings_are_refused_naming_the_key():
    with pytest.raises(ConfigError, match="pruning.sparsity=1.0"):
        MagnitudePruning(sparsity=1.0)
    with pytest.raises(ConfigError, match="start_epoch=5, end_epoch=3"):
        MagnitudePruning(start_epoch=5, end_epoch=3)
    with pytest.raises(ConfigError, match="pruning.include=.*selects no weight"):
        pruning_of(small_module(), include=["frontend.*"])


def test_a_schedule_that_leaves_no_epoch_to_fine_tune_is_refused(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "pruning=magnitude", "pruning.end_epoch=3", "trainer.max_epochs=3")
    with pytest.raises(ConfigError, match="pruning.end_epoch=3 is not below trainer.max_epochs=3"):
        train(cfg)


def kept(path: Path) -> dict[str, Any]:
    """A checkpoint file's contents."""
    return torch.load(path, map_location="cpu", weights_only=True)


def prunable_state(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """The prunable weights of the CRNN in a state dict (names without `prefix`)."""
    named = {name.removeprefix(prefix): t for name, t in state.items()}
    return {name: t for name, t in named.items() if name.startswith("model.encoder.") and ".weight" in name
            and "norm" not in name}  # fmt: skip


def trained_epochs(run: Path) -> int:
    """How many epochs a run's CSV log has a training loss for."""
    (log,) = run.rglob("metrics.csv")
    with open(log) as f:
        return len({row["epoch"] for row in csv.DictReader(f) if row["train/loss_epoch"]})


# A tiny run: masks due at the start of epochs 0 (none yet), 1 and 2, then a fine-tuning epoch.
SCHEDULE = ["pruning=magnitude", "pruning.start_epoch=0", "pruning.end_epoch=2", "trainer.max_epochs=4"]


def test_global_channel_pruning_reaches_the_sparsity_and_early_stopping_waits_for_the_last_step(tmp_path, data_dir):
    # early stopping that would stop at the first epoch without a gain of 10 (every epoch after the first)
    stopping = ["callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=10", "trainer.max_epochs=9"]
    cfg = compose_train(tmp_path, data_dir, *SCHEDULE, "pruning.sparsity=0.6", "pruning.scope=global",
                        "pruning.structure=channels", "pruning.end_epoch=3", *stopping)  # fmt: skip
    train(cfg)
    run = tmp_path / "run"
    best = kept(run / "checkpoints" / "best.ckpt")
    # stopped one epoch after the last pruning step (epoch 3), and kept an epoch trained with the final masks
    assert trained_epochs(run) == 5 and best["epoch"] >= 3
    weights = prunable_state(best["state_dict"])
    zeros = sum(int((w == 0).sum()) for w in weights.values()) / sum(w.numel() for w in weights.values())
    assert 0.6 <= zeros < 0.61
    record = json.loads((run / "metrics.json").read_text())["pruning"]
    assert record["sparsity"] == pytest.approx(zeros) and record["target_sparsity"] == 0.6
    assert record["scope"] == "global" and record["structure"] == "channels"
    assert set(record["layers"]) == set(weights) and record["all_parameters_sparsity"] < zeros
    for name, w in weights.items():
        rows = w.flatten(1)
        assert ((rows == 0).all(dim=1) | (rows != 0).all(dim=1)).all(), name


def test_masks_survive_resuming_mid_schedule(tmp_path, data_dir):
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    # the final weights' callbacks write checkpoints/last.ckpt every epoch
    settings = [*SCHEDULE, "pruning.sparsity=0.8", "callbacks=final_weights", "test=false"]
    train(compose_train(whole, data_dir, *settings))
    stop = [f"+callbacks.stop._target_={FAULTS}.StopAfter", "+callbacks.stop.epoch=1"]
    train(compose_train(parted, data_dir, *settings, *stop))
    middle = kept(parted / "run" / "checkpoints" / "last.ckpt")
    state = middle["callbacks"]["MagnitudePruning"]
    assert middle["epoch"] == 1 and state["pruned_epoch"] == 1
    for name, w in prunable_state(middle["state_dict"]).items():
        assert torch.equal(w != 0, state["masks"][name]), name
    assert sum(int((~m).sum()) for m in state["masks"].values()) / sum(
        m.numel() for m in state["masks"].values()
    ) == pytest.approx(cubic_sparsity(1, 0.8, 0, 2), abs=1e-3)
    train(compose_train(parted, data_dir, *settings, "ckpt_path=last"))
    resumed, uninterrupted = (kept(folder / "run" / "checkpoints" / "last.ckpt") for folder in (parted, whole))
    assert resumed["epoch"] == uninterrupted["epoch"] == 3
    masks = resumed["callbacks"]["MagnitudePruning"]["masks"]
    for name, mask in uninterrupted["callbacks"]["MagnitudePruning"]["masks"].items():
        assert torch.equal(masks[name], mask), name
        assert not (mask & ~state["masks"][name]).any(), name  # what was pruned before the interruption stays so
    for name, w in prunable_state(resumed["state_dict"]).items():
        assert torch.equal(w != 0, masks[name]), name


@pytest.mark.slow
def test_a_pruned_run_trains_and_exports_with_its_zeros(tmp_path, data_dir):
    run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), *SCHEDULE, "pruning.sparsity=0.75",
            "hydra.run.dir=" + str(tmp_path / "run"), cwd=tmp_path)  # fmt: skip
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["pruning"]
    assert record["target_sparsity"] == 0.75 and record["scope"] == "layer"
    assert all(0.75 <= s < 0.76 for s in record["layers"].values()), record["layers"]
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    weights = prunable_state(kept(ckpt)["state_dict"])
    export(compose_train(tmp_path / "export", data_dir, f"ckpt_path={ckpt}", "formats=[torchscript]",
                         "quantize=[]", "latency_runs=1", config_name="export"))  # fmt: skip
    folder = tmp_path / "export" / "run"
    saved = prunable_state(torch.load(folder / "model.pt", weights_only=True))
    program = prunable_state(torch.jit.load(str(folder / "model.torchscript.pt")).state_dict(), "recognizer.")
    for exported in (saved, program):
        assert exported.keys() == weights.keys()
        for name, w in weights.items():
            assert torch.equal(exported[name] == 0, w == 0), name
