"""serlab-export: a trained run as TorchScript and ONNX programs and an int8 copy, with a size, speed and parity report.

Every exported program takes mono waveforms at the run's sample rate, shaped (batch, samples),
each row a whole clip (equal lengths, no padding), and returns class probabilities (batch, classes).
Lengths are not an input: a padded row would need packed recurrent layers, which neither tracing
nor ONNX can express, so clips of different lengths are scored one call each. A model that joins
vector streams (model=fusion) takes each of them as a further input, (batch, *shape), computed from
the clip as the run's `data.streams` computes it (e.g. openSMILE functionals); the program
standardises them itself, and computes the reconstruction error of a run's autoencoder (reconstruction=autoencoder)
from them. The clips' novelty is not an output: serlab-predict writes it.
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import cast

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn
from torch.export._patches import register_gru_while_loop_decomposition, register_lstm_while_loop_decomposition

from serlab.config_check import ConfigError
from serlab.config_tree import print_config_tree
from serlab.extras import require
from serlab.inference import Recognizer, load_recognizer
from serlab.lengths import assume_whole_sequences
from serlab.records import write_json
from serlab.training.build import check_config

Runner = Callable[..., torch.Tensor]
Inputs = tuple[torch.Tensor, ...]
INPUT, OUTPUT = "waveforms", "probabilities"


class Program(nn.Module):
    """What is exported: a recognizer as a function of the waveforms, then of each vector stream (`input_names`)."""

    def __init__(self, recognizer: Recognizer) -> None:
        super().__init__()
        self.recognizer = recognizer
        self.streams = list(recognizer.streams)
        self.input_names = [INPUT, *self.streams]

    def inputs(self, clips: torch.Tensor) -> Inputs:
        """The program's inputs for whole clips (batch, samples): the clips and their vector streams."""
        lengths = torch.full((clips.shape[0],), clips.shape[1], dtype=torch.long)
        return (clips, *self.recognizer.compute_vectors(clips, lengths).values())

    def forward(self, waveforms: torch.Tensor, *vectors: torch.Tensor) -> torch.Tensor:
        return self.recognizer(waveforms, vectors=dict(zip(self.streams, vectors)))


class TorchScript:
    """A traced TorchScript program: `torch.jit.load(file)(waveforms)` gives class probabilities."""

    def __init__(self, filename: str = "model.torchscript.pt") -> None:
        self.filename = filename

    def save(self, model: Program, example: Inputs, folder: Path) -> Path:
        """Trace `model` on `example` and write the program."""
        path = folder / self.filename
        with torch.no_grad():
            # The report compares the program with the model on other lengths; that is the trace check.
            torch.jit.trace(model, example, check_trace=False).save(str(path))
        return path

    def load(self, path: Path, names: list[str]) -> Runner:
        """The saved program as a function of its inputs."""
        program = torch.jit.load(str(path)).eval()
        return torch.no_grad()(program)


class ONNX:
    """An ONNX graph with dynamic batch and time axes, run here with onnxruntime on the CPU."""

    def __init__(self, filename: str = "model.onnx", opset: int = 18) -> None:
        self.filename = filename
        self.opset = opset
        # torch.onnx writes the graph with onnx and onnxscript; onnxruntime runs it for the report
        require("onnx", "formats=[onnx]")
        require("onnxscript", "formats=[onnx]")
        self.runtime = require("onnxruntime", "formats=[onnx]")

    def save(self, model: Program, example: Inputs, folder: Path) -> Path:
        """Export `model` through torch.export with the batch and time axes dynamic, weights inside the one file."""
        path = folder / self.filename
        # waveforms: batch and time; each vector stream (forward's *vectors, one tuple to torch.export): batch
        waveform_axes = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}
        vector_axes = tuple({0: torch.export.Dim.DYNAMIC} for _ in example[1:])
        axes = (waveform_axes, vector_axes) if vector_axes else (waveform_axes,)
        for chatty in ("onnxscript", "onnx_ir"):  # their graph optimiser logs every pass at INFO
            logging.getLogger(chatty).setLevel(logging.WARNING)
        # Without the loop-based RNN decompositions through all of torch.onnx's steps, a bidirectional
        # LSTM/GRU is exported with its time axis frozen at the example's length (pytorch/pytorch#191855).
        with (
            register_lstm_while_loop_decomposition(),
            register_gru_while_loop_decomposition(),
            warnings.catch_warnings(),
        ):
            # torch's notices about its own internals, raised while exporting, say nothing about this model
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                model,
                example,
                path,
                dynamo=True,
                input_names=model.input_names,
                output_names=[OUTPUT],
                dynamic_shapes=axes,
                opset_version=self.opset,
                external_data=False,
                verbose=False,
            )
        return path

    def load(self, path: Path, names: list[str]) -> Runner:
        """An onnxruntime session as a function of its inputs (`names` in order), on as many threads as torch uses."""
        options = self.runtime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        # Spinning worker threads would fight torch's own between calls in this process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = self.runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        def run(*inputs: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run([OUTPUT], {n: x.numpy() for n, x in zip(names, inputs)})[0])

        return run


def count_parameters(model: nn.Module) -> int:
    """Learned weights in `model`."""
    return sum(p.numel() for p in model.parameters())


def quantize(model: Program) -> Program:
    """A copy whose Linear, LSTM and GRU layers hold int8 weights and quantise activations per call.

    Layers inside transformer blocks stay float: PyTorch's fused transformer path reads their weights
    as tensors, which quantised layers no longer have.
    """
    blocks = [name for name, layer in model.named_modules() if isinstance(layer, nn.TransformerEncoderLayer)]
    chosen = {
        name: torch.ao.quantization.default_dynamic_qconfig
        for name, layer in model.named_modules()
        if isinstance(layer, (nn.Linear, nn.LSTM, nn.GRU)) and not any(name.startswith(f"{b}.") for b in blocks)
    }
    return cast(Program, torch.ao.quantization.quantize_dynamic(model, chosen, dtype=torch.qint8))


def noise_clip(seconds: float, sample_rate: int) -> torch.Tensor:
    """A fixed (1, samples) noise clip: the same figures on every run."""
    generator = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(1, round(seconds * sample_rate), generator=generator)


def median_ms(run: Runner, clip: Inputs, runs: int) -> float:
    """Median wall time of `runs` calls on `clip`, in milliseconds, after two warm-up calls."""
    for _ in range(2):
        run(*clip)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(*clip)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@dataclass
class Entry:
    """One line of the report: a form of the model, its file and how it performs."""

    form: str
    file: str
    size_mb: float
    parameters: int
    latency_ms: float
    max_abs_diff: float  # largest |probability - PyTorch float probability| over the check clips


def measure(
    form: str,
    path: Path,
    run: Runner,
    clips: list[Inputs],
    expected: list[torch.Tensor],
    runs: int,
    parameters: int,
) -> Entry:
    """File size, median latency on the first clip and the largest deviation from the `expected` probabilities."""
    with torch.no_grad():
        diff = max(float((run(*clip) - probs).abs().max()) for clip, probs in zip(clips, expected))
    return Entry(
        form=form,
        file=path.name,
        size_mb=round(path.stat().st_size / 2**20, 3),
        parameters=parameters,
        latency_ms=round(median_ms(run, clips[0], runs), 3),
        max_abs_diff=diff,
    )


def export_form(
    form: str,
    exporter: TorchScript | ONNX,
    model: Program,
    example: Inputs,
    folder: Path,
    check: Callable[..., Entry],
) -> Entry:
    """Save one form, load it back and `check` it; a model it cannot express fails naming the form and the model."""
    try:
        path = exporter.save(model, example, folder)
        return check(form, path, exporter.load(path, model.input_names))
    except Exception as err:  # tracers, exporters and runtimes each raise their own kinds
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        parts = model.recognizer
        raise RuntimeError(
            f"{form}: model={type(parts.model).__name__} with frontend={type(parts.frontend).__name__} could not be "
            f"exported, or its program fails on clips of another length (see the error above): {reason}"
        ) from err


def print_table(entries: list[Entry], clip_seconds: float) -> None:
    """The report as an aligned text table."""
    header = ["form", "file", "MB", "params", f"ms/{clip_seconds:g} s clip", "max |dp|"]
    lines = [header] + [
        [e.form, e.file, f"{e.size_mb:.3f}", f"{e.parameters:,}", f"{e.latency_ms:.1f}", f"{e.max_abs_diff:.2e}"]
        for e in entries
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)))


def export(cfg: DictConfig) -> dict:
    """Write every chosen format (and the int8 copy), check each against the PyTorch model, report."""
    check_config(cfg)
    unknown = sorted(set(cfg.formats) - set(cfg.exporters))
    if unknown:
        raise ConfigError(
            f"formats: no exporter named {unknown}; choose among {sorted(cfg.exporters)}, e.g. formats=[onnx]"
        )
    # Built first, so that a format missing its optional packages is reported before any work is done.
    exporters = {form: instantiate(cfg.exporters[form]) for form in cfg.formats}
    if cfg.get("print_config"):
        print_config_tree(cfg)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    recognizer = load_recognizer(Path(cfg.ckpt_path).expanduser().resolve())
    if recognizer.loss.frame_level:
        raise ConfigError(
            f"ckpt_path: the run's loss ({type(recognizer.loss).__name__}) decodes frame scores step by step, "
            "which cannot be exported; export runs trained with an utterance-level loss (ce, multitask)"
        )
    assume_whole_sequences(recognizer)
    program = Program(recognizer)
    folder = Path(cfg.paths.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rate = recognizer.sample_rate
    clips = [program.inputs(noise_clip(s, rate)) for s in (cfg.clip_seconds, *cfg.check_seconds)]
    # Two rows keep the batch axis dynamic: tracing a batch of one would fix it at one.
    example = program.inputs(torch.cat([clips[0][0], clips[0][0].flip(-1)]))

    reference = torch.no_grad()(program)
    expected = [reference(*clip) for clip in clips]
    # Every form has the float model's weights (the int8 copy stores the same ones in 8 bits).
    check = partial(
        measure, clips=clips, expected=expected, runs=cfg.latency_runs, parameters=count_parameters(program)
    )

    weights = folder / "model.pt"
    torch.save(recognizer.state_dict(), weights)
    entries = [check("pytorch", weights, reference)]
    for form, exporter in exporters.items():
        entries.append(export_form(form, exporter, program, example, folder, check))
    if cfg.quantize:
        int8 = TorchScript("model_int8.torchscript.pt")
        entries.append(export_form("torchscript_int8", int8, quantize(program), example, folder, check))

    record = {
        "checkpoint": str(Path(cfg.ckpt_path).expanduser().resolve()),
        "classes": recognizer.classes,
        "sample_rate": rate,
        "input": f"{INPUT}: float32 (batch, samples), mono at sample_rate, each row a whole clip",
        "vector_inputs": {
            name: f"float32 (batch, {', '.join(map(str, stream.shape))}): data.streams.{name} of each clip, as computed"
            for name, stream in recognizer.streams.items()
        },
        "output": f"{OUTPUT}: float32 (batch, classes), in the order of `classes`",
        "clip_seconds": cfg.clip_seconds,
        "check_seconds": list(cfg.check_seconds),
        "threads": torch.get_num_threads(),
        "entries": [asdict(e) for e in entries],
    }
    write_json(record, folder / "export.json")
    print_table(entries, cfg.clip_seconds)
    print(f"exports and export.json: {folder}")
    return record


def main(cfg: DictConfig) -> None:
    """The task of serlab-export (serlab.cli.commands.export)."""
    export(cfg)


if __name__ == "__main__":
    from serlab.cli.commands import export as command

    command()
