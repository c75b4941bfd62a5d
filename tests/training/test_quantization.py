"""Quantization-aware training: the model trains through int8 rounding, and leaves plain float weights behind."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import serlab.training.quantization as qat
from serlab.cli.train import train
from serlab.config_check import ConfigError
from serlab.training.build import build_module
from serlab.training.checkpointing import load_run
from serlab.training.quantization import QuantizationAware, fake_quantize_weight
from tests.conftest import compose_train


def on_int8_grid(weight: torch.Tensor) -> bool:
    """Whether each output channel of `weight` lies on the symmetric int8 grid of its largest magnitude."""
    scale = weight.abs().flatten(1).amax(dim=1) / 127
    steps = weight / scale.view(-1, *[1] * (weight.dim() - 1))
    return bool(torch.allclose(steps, steps.round(), atol=1e-3))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=(2, 3)))


def test_layers_compute_on_int8_weights_and_inputs_while_attached_and_in_float_after(monkeypatch):
    torch.manual_seed(0)
    model, x = Tiny(), torch.randn(2, 1, 16, 20)  # more distinct values than uint8 has
    plain = model(x)
    assert not on_int8_grid(model.conv.weight.detach())
    seen: dict[str, torch.Tensor] = {}
    conv_forward, linear = model.conv._conv_forward, torch.nn.functional.linear

    def record_conv(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        seen["conv_input"], seen["conv"] = inputs, weight
        return conv_forward(inputs, weight, bias)

    def record_linear(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        seen["head"] = weight
        return linear(inputs, weight, bias)

    monkeypatch.setattr(model.conv, "_conv_forward", record_conv)
    monkeypatch.setattr(qat.F, "linear", record_linear)
    callback = QuantizationAware(momentum=0.5)
    callback.attach(model, torch.device("cpu"))
    out = model(x)
    assert on_int8_grid(seen["conv"].detach()) and on_int8_grid(seen["head"].detach())
    assert len(seen["conv_input"].unique()) <= 256 < len(x.unique())
    # the weights stay float parameters; the rounding is in the computation, and gradients pass it
    assert not on_int8_grid(model.conv.weight.detach()) and not torch.allclose(out, plain)
    out.sum().backward()
    assert model.conv.weight.grad is not None and model.conv.weight.grad.abs().sum() > 0
    assert bool(callback.ranges["conv"].seen) and float(callback.ranges["conv"].high) > 0
    monkeypatch.undo()
    callback.detach()
    assert "forward" not in vars(model.conv) and "forward" not in vars(model.head)
    torch.testing.assert_close(model(x), plain)


def test_frozen_ranges_stop_moving():
    observed = qat.ActivationRange(momentum=0.5)
    observed(torch.tensor([-1.0, 2.0]), observe=True)
    observed.frozen = True
    observed(torch.tensor([-10.0, 20.0]), observe=True)
    assert (float(observed.low), float(observed.high)) == (-1.0, 2.0)
    observed.frozen = False
    observed(torch.tensor([-3.0, 4.0]), observe=True)
    assert (float(observed.low), float(observed.high)) == (-2.0, 3.0)


def test_fake_quantized_weight_keeps_each_channels_largest_magnitude():
    weight = torch.tensor([[0.5, -0.25, 0.1], [3.0, 1.0, -2.9]])
    rounded = fake_quantize_weight(weight)
    assert on_int8_grid(rounded) and torch.equal(rounded.abs().amax(dim=1), weight.abs().amax(dim=1))


def test_a_qat_run_trains_fake_quantised_and_leaves_a_plain_float_checkpoint(tmp_path, data_dir):
    limits = ["debug=limit", "trainer.max_epochs=2", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    train(compose_train(tmp_path, data_dir, "model=crnn", "model.hidden=8", "quantization=qat", *limits))
    run = tmp_path / "run"
    state, run_cfg, classes = load_run(run / "checkpoints" / "best.ckpt")
    # the checkpoint holds the model's own tensors, no fake-quantisation state: every loader reads it as it is
    assert state["state_dict"].keys() == build_module(run_cfg, classes).state_dict().keys()
    (ranges,) = [v for k, v in state["callbacks"].items() if k.startswith("QuantizationAware")]
    assert set(ranges) == {"encoder.blocks.0.conv", "encoder.blocks.1.conv", "encoder.blocks.2.conv", "head"}
    assert all(bool(r["seen"]) and float(r["high"]) > float(r["low"]) for r in ranges.values())
    record = json.loads((run / "metrics.json").read_text())["quantization"]
    assert record == {"method": "serlab.training.quantization.QuantizationAware", "quantization_aware": True,
                      "start_epoch": 0, "frozen_epochs": 1, "momentum": 0.01}  # fmt: skip


def test_a_start_after_the_last_epoch_is_refused_in_one_line(tmp_path, data_dir):
    limits = ["debug=limit", "trainer.max_epochs=2"]
    cfg = compose_train(tmp_path, data_dir, "model=crnn", "quantization=qat", "quantization.start_epoch=2", *limits)
    with pytest.raises(ConfigError, match="quantization.start_epoch=2 is not below trainer.max_epochs=2") as caught:
        train(cfg)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"start_epoch": -1}, "quantization.start_epoch: must be >= 0"),
        ({"frozen_epochs": -1}, "quantization.frozen_epochs: must be >= 0"),
        ({"momentum": 0}, "quantization.momentum: .* must be in \\(0, 1\\]"),
    ],
    ids=["start", "frozen", "momentum"],
)
def test_qat_settings_are_refused_in_one_line(settings, message):
    with pytest.raises(ConfigError, match=message) as caught:
        QuantizationAware(**settings)
    assert "\n" not in str(caught.value)
