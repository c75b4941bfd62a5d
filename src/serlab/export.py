"""serlab-export: a trained run as TorchScript and ONNX programs and an int8 copy, with a size, speed and parity report.

Every exported program takes mono waveforms at the run's sample rate, shaped (batch, samples),
each row a whole clip (equal lengths, no padding), and returns class probabilities (batch, classes).
Lengths are not an input: a padded row would need packed recurrent layers, which neither tracing
nor ONNX can express, so clips of different lengths are scored one call each.
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

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn
from torch.export._patches import register_gru_while_loop_decomposition, register_lstm_while_loop_decomposition

from serlab.config_check import ConfigError
from serlab.config_tree import print_config_tree
from serlab.extras import require
from serlab.inference import load_recognizer
from serlab.models.rnn import assume_whole_sequences
from serlab.records import write_json
from serlab.training.build import check_config

Runner = Callable[[torch.Tensor], torch.Tensor]
INPUT, OUTPUT = "waveforms", "probabilities"


class TorchScript:
    """A traced TorchScript program: `torch.jit.load(file)(waveforms)` gives class probabilities."""

    def __init__(self, filename: str = "model.torchscript.pt") -> None:
        self.filename = filename

    def save(self, model: nn.Module, example: torch.Tensor, folder: Path) -> Path:
        """Trace `model` on `example` and write the program."""
        path = folder / self.filename
        with torch.no_grad():
            # The report compares the program with the model on other lengths; that is the trace check.
            torch.jit.trace(model, (example,), check_trace=False).save(str(path))
        return path

    def load(self, path: Path) -> Runner:
        """The saved program as a function of waveforms."""
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

    def save(self, model: nn.Module, example: torch.Tensor, folder: Path) -> Path:
        """Export `model` through torch.export with every axis dynamic, weights inside the one file."""
        path = folder / self.filename
        axes = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}
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
                (example,),
                path,
                dynamo=True,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes=(axes,),
                opset_version=self.opset,
                external_data=False,
                verbose=False,
            )
        return path

    def load(self, path: Path) -> Runner:
        """An onnxruntime session as a function of waveforms, on as many threads as torch uses."""
        options = self.runtime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        # Spinning worker threads would fight torch's own between calls in this process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = self.runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda waveforms: torch.from_numpy(session.run([OUTPUT], {INPUT: waveforms.numpy()})[0])


def count_parameters(model: nn.Module) -> int:
    """Learned weights in `model`."""
    return sum(p.numel() for p in model.parameters())


def quantize(model: nn.Module) -> nn.Module:
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
    return torch.ao.quantization.quantize_dynamic(model, chosen, dtype=torch.qint8)


def noise_clip(seconds: float, sample_rate: int) -> torch.Tensor:
    """A fixed (1, samples) noise clip: the same figures on every run."""
    generator = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(1, round(seconds * sample_rate), generator=generator)


def median_ms(run: Runner, clip: torch.Tensor, runs: int) -> float:
    """Median wall time of `runs` calls on `clip`, in milliseconds, after two warm-up calls."""
    for _ in range(2):
        run(clip)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(clip)
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
    clips: list[torch.Tensor],
    expected: list[torch.Tensor],
    runs: int,
    parameters: int,
) -> Entry:
    """File size, median latency on the first clip and the largest deviation from the `expected` probabilities."""
    with torch.no_grad():
        diff = max(float((run(clip) - probs).abs().max()) for clip, probs in zip(clips, expected))
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
    model: nn.Module,
    example: torch.Tensor,
    folder: Path,
    check: Callable[..., Entry],
) -> Entry:
    """Save one form, load it back and `check` it; a model it cannot express fails naming the form and the model."""
    try:
        path = exporter.save(model, example, folder)
        return check(form, path, exporter.load(path))
    except Exception as err:  # tracers, exporters and runtimes each raise their own kinds
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RuntimeError(
            f"{form}: model={type(model.model).__name__} with frontend={type(model.frontend).__name__} could not be "
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
    folder = Path(cfg.paths.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rate = recognizer.sample_rate
    clips = [noise_clip(s, rate) for s in (cfg.clip_seconds, *cfg.check_seconds)]
    # Two rows keep the batch axis dynamic: tracing a batch of one would fix it at one.
    example = torch.cat([clips[0], clips[0].flip(-1)])

    reference = torch.no_grad()(recognizer)
    expected = [reference(clip) for clip in clips]
    # Every form has the float model's weights (the int8 copy stores the same ones in 8 bits).
    check = partial(
        measure, clips=clips, expected=expected, runs=cfg.latency_runs, parameters=count_parameters(recognizer)
    )

    weights = folder / "model.pt"
    torch.save(recognizer.state_dict(), weights)
    entries = [check("pytorch", weights, reference)]
    for form, exporter in exporters.items():
        entries.append(export_form(form, exporter, recognizer, example, folder, check))
    if cfg.quantize:
        int8 = TorchScript("model_int8.torchscript.pt")
        entries.append(export_form("torchscript_int8", int8, quantize(recognizer), example, folder, check))

    record = {
        "checkpoint": str(Path(cfg.ckpt_path).expanduser().resolve()),
        "classes": recognizer.classes,
        "sample_rate": rate,
        "input": f"{INPUT}: float32 (batch, samples), mono at sample_rate, each row a whole clip",
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
    """The task of serlab-export (serlab.cli.export)."""
    export(cfg)


if __name__ == "__main__":
    from serlab.cli import export as command

    command()
