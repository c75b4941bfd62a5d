"""serlab-export: a trained run as TorchScript and ONNX programs and int8 forms, with a size, speed, parity, UAR report.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Protocol, cast

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn
from torch.export._patches import register_gru_while_loop_decomposition, register_lstm_while_loop_decomposition

from serlab.cli.run_data import run_datamodule, training_clips
from serlab.config_check import ConfigError
from serlab.config_tree import print_config_tree
from serlab.data.dataset import AudioDataset
from serlab.extras import require
from serlab.inference import Recognizer, load_recognizer
from serlab.lengths import assume_whole_sequences
from serlab.records import write_json
from serlab.training.build import check_config
from serlab.training.metrics import uar, war

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


class Quantizer(Protocol):
    """One int8 form (serlab.cli.int8): `form` names it in export.json; `source` is the format (`formats`) it
    quantises, None when it starts from the PyTorch model; `calibrated`: whether `save` reads calibration clips
    (the run's training audio is decoded only when some chosen form does)."""

    form: str
    source: str | None
    calibrated: bool

    def save(self, model: Program, example: Inputs, folder: Path, sources: Mapping[str, Path],
             calibration: Sequence[Inputs]) -> Path:  # fmt: skip
        """Write the form into `folder`; `sources`: the file of each format written, `calibration`: the program
        inputs of training clips (empty unless `calibrated`)."""
        ...

    def load(self, path: Path, names: list[str]) -> Runner:
        """The written form as a function of its inputs (`names` in order)."""
        ...


def count_parameters(model: nn.Module) -> int:
    """Learned weights in `model`."""
    return sum(p.numel() for p in model.parameters())


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
    # unweighted and weighted average recall on the run's own split (`evaluate`), one clip per call
    uar: float | None = None
    war: float | None = None


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
    form: str, save: Callable[[], Path], load: Callable[[Path], Runner], model: Program
) -> tuple[Path, Runner]:
    """Save one form and load it back; a model it cannot express fails naming the form and the model."""
    try:
        path = save()
        return path, load(path)
    except Exception as err:  # tracers, exporters, quantisers and runtimes each raise their own kinds
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        parts = model.recognizer
        raise RuntimeError(
            f"{form}: model={type(parts.model).__name__} with frontend={type(parts.frontend).__name__} could not be "
            f"exported, or its program fails on clips of another length (see the error above): {reason}"
        ) from err


def score(runners: Mapping[str, Runner], program: Program, data: AudioDataset) -> dict[str, dict[str, float]]:
    """Each form's UAR and WAR on `data`, scored one whole clip per call (the predicted class: the most probable)."""
    n = len(program.recognizer.classes)
    confusions = {form: torch.zeros(n, n, dtype=torch.long) for form in runners}
    with torch.no_grad():
        for wave, target in zip(data.waveforms, data.targets):
            inputs = program.inputs(wave[None])
            for form, run in runners.items():
                confusions[form][target, int(run(*inputs).argmax(-1))] += 1
    return {form: {"uar": uar(cm), "war": war(cm)} for form, cm in confusions.items()}


def print_table(entries: list[Entry], clip_seconds: float) -> None:
    """The report as an aligned text table."""
    header = ["form", "file", "MB", "params", f"ms/{clip_seconds:g} s clip", "max |dp|", "UAR", "WAR"]
    lines = [header] + [
        [e.form, e.file, f"{e.size_mb:.3f}", f"{e.parameters:,}", f"{e.latency_ms:.1f}", f"{e.max_abs_diff:.2e}",
         *(f"{v:.4f}" if v is not None else "-" for v in (e.uar, e.war))]
        for e in entries
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)))


# the splits `evaluate` may name, and the datamodule stage that loads each
EVALUATED = {"test": "test", "val": "validate"}


def check_choices(cfg: DictConfig) -> None:
    """Refuse formats, int8 forms and settings that name nothing or cannot be met, before any work is done."""
    if isinstance(cfg.quantize, bool):
        raise ConfigError(
            "quantize: now a list of int8 forms among `quantizers` (e.g. quantize=[dynamic,static]): "
            "quantize=[dynamic] for the former quantize=true, quantize=[] for quantize=false"
        )
    for key, chosen, among in (("formats", cfg.formats, cfg.exporters), ("quantize", cfg.quantize, cfg.quantizers)):
        unknown = sorted(set(chosen) - set(among))
        if unknown:
            example = next(iter(among))
            raise ConfigError(f"{key}: no entry named {unknown}; choose among {sorted(among)}, e.g. {key}=[{example}]")
    if cfg.calibration_clips < 1:
        raise ConfigError(f"calibration_clips: must be >= 1 training utterances, got {cfg.calibration_clips}")
    if cfg.evaluate is not None and cfg.evaluate not in EVALUATED:
        raise ConfigError(f"evaluate: {cfg.evaluate!r} is no split to score; choose {' or '.join(EVALUATED)}, or null")


def export(cfg: DictConfig) -> dict:
    """Write every chosen format and int8 form, check each against the PyTorch model (and score each on the run's
    `evaluate` split), report."""
    check_config(cfg)
    check_choices(cfg)
    # Built first, so that a format missing its optional packages is reported before any work is done.
    exporters = {form: instantiate(cfg.exporters[form]) for form in cfg.formats}
    quantizers: list[Quantizer] = [instantiate(cfg.quantizers[name]) for name in cfg.quantize]
    for name, quantizer in zip(cfg.quantize, quantizers):
        if quantizer.source is not None and quantizer.source not in exporters:
            raise ConfigError(
                f"quantize: {name} quantises the {quantizer.source} program: add it to formats "
                f"(formats=[{','.join([*cfg.formats, quantizer.source])}])"
            )
    if cfg.get("print_config"):
        print_config_tree(cfg)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    recognizer = load_recognizer(ckpt_path)
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
    calibrated = any(q.calibrated for q in quantizers)
    data = run_datamodule(ckpt_path) if cfg.evaluate or calibrated else None
    calibration = training_clips(data, cfg.calibration_clips) if data is not None and calibrated else None

    reference = torch.no_grad()(program)
    weights = folder / "model.pt"
    torch.save(recognizer.state_dict(), weights)
    paths, runners = {"pytorch": weights}, {"pytorch": cast(Runner, reference)}
    names = program.input_names
    for form, exporter in exporters.items():
        save = partial(exporter.save, program, example, folder)
        paths[form], runners[form] = export_form(form, save, partial(exporter.load, names=names), program)
    sources = dict(paths)
    calibration_inputs = [program.inputs(wave[None]) for wave in calibration.waveforms] if calibration else []
    for quantizer in quantizers:
        save = partial(quantizer.save, program, example, folder, sources, calibration_inputs)
        form = quantizer.form
        paths[form], runners[form] = export_form(form, save, partial(quantizer.load, names=names), program)

    expected = [reference(*clip) for clip in clips]
    # Every form has the float model's weights (the int8 copies store the same ones in 8 bits).
    parameters = count_parameters(program)
    entries = [
        measure(form, paths[form], run, clips, expected, cfg.latency_runs, parameters) for form, run in runners.items()
    ]
    record = {
        "checkpoint": str(ckpt_path),
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
    }
    if calibration is not None:
        record["calibration"] = split_record(calibration, "train")
    if data is not None and cfg.evaluate:
        data.setup(EVALUATED[cfg.evaluate])
        scored = data.datasets[cfg.evaluate]
        for entry, scores in zip(entries, score(runners, program, scored).values()):
            entry.uar, entry.war = scores["uar"], scores["war"]
        record["evaluated"] = split_record(scored, cfg.evaluate)
    record["entries"] = [asdict(e) for e in entries]
    write_json(record, folder / "export.json")
    print_table(entries, cfg.clip_seconds)
    print(f"exports and export.json: {folder}")
    return record


def split_record(data: AudioDataset, split: str) -> dict[str, object]:
    """Which of the run's utterances a step read: the split, its speakers, how many utterances and skipped files."""
    return {
        "split": split,
        "speakers": sorted({r.speaker for r in data.rows}),
        "utterances": len(data),
        "skipped_files": len(data.skipped),
    }


def main(cfg: DictConfig) -> None:
    """The task of serlab-export (serlab.cli.commands.export)."""
    export(cfg)


if __name__ == "__main__":
    from serlab.cli.commands import export as command

    command()
