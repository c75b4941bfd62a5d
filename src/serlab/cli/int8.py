"""The int8 forms serlab-export writes beside the float programs (its `quantize` option, `quantizers` entries).

- `TorchDynamic`: the TorchScript program with int8 Linear, LSTM and GRU weights, activations quantised per call.
- `ONNXStatic`: the ONNX program quantised after training with fixed activation ranges, calibrated on clips of the
  run's training utterances (never its validation or test ones): the model's convolutions and linear layers run in
  int8 (QuantizeLinear/DequantizeLinear pairs that onnxruntime fuses into QLinearConv and QGemm); the frontend
  (STFT, mel filters) and the recurrent layers stay float.
- `ONNXDynamic`: the ONNX program with the same layers' weights in int8 and their activations quantised per call,
  to compare static with dynamic quantisation within one runtime.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import cast

import torch
from torch import nn

from serlab.cli.export import ONNX, Inputs, Program, Runner, TorchScript
from serlab.extras import require

# The model's tensors in an exported graph: its layers are quantised, the frontend's and normalisers' are not.
MODEL_PREFIX = "recognizer.model."


class TorchDynamic:
    """A TorchScript copy whose Linear, LSTM and GRU layers hold int8 weights and quantise activations per call.

    Layers inside transformer blocks stay float: PyTorch's fused transformer path reads their weights
    as tensors, which quantised layers no longer have.
    """

    source = None
    calibrated = False

    def __init__(self, form: str = "torchscript_int8", filename: str = "model_int8.torchscript.pt") -> None:
        self.form = form
        self.program = TorchScript(filename)

    def save(self, model: Program, example: Inputs, folder: Path, sources: Mapping[str, Path],
             calibration: Sequence[Inputs]) -> Path:  # fmt: skip
        """Quantise a copy of `model` and trace it."""
        blocks = [name for name, layer in model.named_modules() if isinstance(layer, nn.TransformerEncoderLayer)]
        chosen = {
            name: torch.ao.quantization.default_dynamic_qconfig
            for name, layer in model.named_modules()
            if isinstance(layer, (nn.Linear, nn.LSTM, nn.GRU)) and not any(name.startswith(f"{b}.") for b in blocks)
        }
        quantized = cast(Program, torch.ao.quantization.quantize_dynamic(model, chosen, dtype=torch.qint8))
        return self.program.save(quantized, example, folder)

    def load(self, path: Path, names: list[str]) -> Runner:
        return self.program.load(path, names)


def model_nodes(path: Path) -> list[str]:
    """The graph's nodes that read the model's weights (convolutions, matrix products), not the frontend's."""
    graph = require("onnx", "quantize=[static] or [onnx_dynamic]").load(str(path)).graph
    weights = {t.name for t in graph.initializer if t.name.startswith(MODEL_PREFIX)}
    return [node.name for node in graph.node if weights.intersection(node.input)]


class ONNXStatic:
    """The ONNX program with int8 weights (per output channel) and int8 activations over fixed ranges, measured
    on `calibration` clips; onnxruntime runs it."""

    source = "onnx"
    calibrated = True

    def __init__(self, form: str = "onnx_int8_static", filename: str = "model_int8_static.onnx") -> None:
        self.form = form
        self.program = ONNX(filename)
        self.tools = require("onnxruntime.quantization", f"quantize=[static] ({form})")

    def save(self, model: Program, example: Inputs, folder: Path, sources: Mapping[str, Path],
             calibration: Sequence[Inputs]) -> Path:  # fmt: skip
        """Quantise the saved ONNX program, its activation ranges measured on `calibration` (one clip per call)."""
        path = folder / self.program.filename
        # onnxruntime's graph preparation (shape inference; its symbolic pass cannot follow torch's STFT graph)
        prepared = folder / f".{path.stem}.prepared.onnx"
        self.tools.quant_pre_process(str(sources["onnx"]), str(prepared), skip_symbolic_shape=True)
        try:
            self.tools.quantize_static(
                str(prepared),
                str(path),
                Calibration(model.input_names, calibration),
                quant_format=self.tools.QuantFormat.QDQ,
                per_channel=True,
                activation_type=self.tools.QuantType.QUInt8,
                weight_type=self.tools.QuantType.QInt8,
                nodes_to_quantize=model_nodes(prepared),
            )
        finally:
            prepared.unlink()
        return path

    def load(self, path: Path, names: list[str]) -> Runner:
        return self.program.load(path, names)


class ONNXDynamic:
    """The ONNX program with int8 weights whose activations are quantised per call; onnxruntime runs it."""

    source = "onnx"
    calibrated = False

    def __init__(self, form: str = "onnx_int8_dynamic", filename: str = "model_int8_dynamic.onnx") -> None:
        self.form = form
        self.program = ONNX(filename)
        self.tools = require("onnxruntime.quantization", f"quantize=[onnx_dynamic] ({form})")

    def save(self, model: Program, example: Inputs, folder: Path, sources: Mapping[str, Path],
             calibration: Sequence[Inputs]) -> Path:  # fmt: skip
        """Quantise the weights of the saved ONNX program's model layers."""
        path = folder / self.program.filename
        source = sources["onnx"]
        self.tools.quantize_dynamic(
            str(source), str(path), weight_type=self.tools.QuantType.QInt8, nodes_to_quantize=model_nodes(source)
        )
        return path

    def load(self, path: Path, names: list[str]) -> Runner:
        return self.program.load(path, names)


class Calibration:
    """Feeds onnxruntime's calibration the program inputs of each clip (names -> arrays), one clip per call:
    the programs take rows of equal length, and clips differ."""

    def __init__(self, names: list[str], clips: Sequence[Inputs]) -> None:
        self.feeds: Iterator[dict] = iter([{n: x.numpy() for n, x in zip(names, clip)} for clip in clips])

    def get_next(self) -> dict | None:
        """The next clip's inputs; None when all were read."""
        return next(self.feeds, None)
