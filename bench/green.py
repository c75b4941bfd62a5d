"""Green SER on EmoDB (honest LOSO): what distillation, pruning and int8 cost and keep in UAR, and what training used.

    python bench/green.py --emodb ../shared/data/emodb --whisper ../shared/models/whisper-tiny.en \
        --out runs/green [--only ROW ...] [--folds 0 1 ...] [--page docs/green.html]

Rows (one serlab-cv each, 10 LOSO folds x one seed unless --folds; kept under --out, so a second call only adds
what is missing):
- teacher: the emodb_whisper probe (frozen Whisper tiny.en statistics + linear head); its parameters and latency
  include the encoder, which runs inside the pipeline.
- student: experiment=emodb_student, a log-mel CRNN of about 190 k parameters, trained on the labels alone.
- distilled: the same student trained on labels and the fold-matched teacher's softened probabilities.
- pruned_90 / lottery: the student pruned by magnitude to 90 % sparsity over a schedule with fine-tuning / by
  iterative lottery-ticket rounds with rewinding.
- qat: the student trained with int8 fake-quantisation.
Every run of the int8 rows is exported (serlab-export, one thread): ONNX float, ONNX static int8 calibrated on
the run's training audio, ONNX dynamic int8, TorchScript dynamic int8; each form is scored on the run's test
speaker. Size and latency come from each row's first fold, exported apart from training into <row>/timing/:
latency is the median per 3 s clip on one thread, forms timed in interleaved rounds (median of 7 rounds of 20
calls); rows of one architecture run the same dense program (pruned zeros are stored, not skipped). The
teacher's latency is its PyTorch pipeline on a new clip each call (the Whisper encoder cannot be exported).
Energy is each row's training energy over all its folds (callbacks/energy: codecarbon, offline; on a machine
without readable RAPL counters the CPU figure is an estimate from its load, said in the page's notes).
Writes the HTML page with the plots and the table (--page), and prints the table as Markdown.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from serlab.cli.export import INPUT, ONNX, TorchScript, median_ms, noise_clip
from serlab.data.embeddings import PretrainedEmbeddings
from serlab.data.encoders import WhisperEncoder
from serlab.inference import load_recognizer
from serlab.reports.pareto import System, write_pareto
from serlab.reports.render import Table

CLIP_SECONDS = 3.0
# per round, so that three rounds leave 10 % of the prunable weights: 1 - (1 - rate)^3 = 0.9
LOTTERY_RATE = round(1 - 0.1 ** (1 / 3), 4)
# the exported forms shown: float ONNX (the row itself), then its int8 copies
FORMS = ("onnx", "onnx_int8_static", "onnx_int8_dynamic", "torchscript_int8")


@dataclass(frozen=True)
class Row:
    """One serlab-cv experiment of the table."""

    name: str
    overrides: tuple[str, ...]
    # the teacher's encoder runs inside its pipeline and cannot be exported: timed in PyTorch, parameters counted
    teacher: bool = False
    # every fold's run also exported in int8 forms, each scored on the fold's test speaker
    int8: bool = False
    # only these folds (the lottery trains four times per fold)
    folds: tuple[int, ...] | None = None


def rows(out: Path, whisper: str, embeddings: Path) -> list[Row]:
    """The table's experiments, in the order they must run (the distilled student reads the teacher's runs)."""
    student = ("experiment=emodb_student",)
    return [
        Row(
            "teacher",
            ("experiment=emodb_whisper", f"data.streams.embeddings.encoder.path={whisper}",
             f"paths.data_dir={embeddings}"),
            teacher=True,
        ),
        Row("student", student, int8=True),
        Row("distilled", (*student, f"distill.teacher={out / 'teacher'}")),
        Row("pruned_90", (*student, "pruning=magnitude", "pruning.sparsity=0.9")),
        # four trainings of the student's recipe (24 epochs each), three prunings to 90 %
        Row("lottery", (*student, "pruning=lottery", "pruning.rounds=3", f"pruning.rate={LOTTERY_RATE}",
                        "pruning.round_epochs=24", "trainer.max_epochs=96"), folds=(0, 1)),
        Row("qat", (*student, "quantization=qat"), int8=True),
    ]


def run_cv(emodb: str, row: Row, out: Path, folds: list[int] | None) -> dict:
    """serlab-cv of one row into out/<name> (finished folds are kept); its summary.json."""
    cv_dir = out / row.name
    args = [*row.overrides, "data=emodb", f"data.root={emodb}", "data/split=loso", "cv.seeds=[42]",
            f"hydra.run.dir={cv_dir}", f"paths.root_dir={out}", "print_config=false",
            # training energy on top of whatever callbacks the preset chose (the meter is opt-in)
            "+callbacks.energy._target_=serlab.training.energy.EnergyMeter"]  # fmt: skip
    if folds is not None:
        args.append(f"cv.folds=[{','.join(map(str, folds))}]")
    proc = subprocess.run([sys.executable, "-m", "serlab.cli.cv", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"serlab-cv {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads((cv_dir / "summary.json").read_text())


def fold_runs(cv_dir: Path, summary: dict) -> list[Path]:
    """The run folders of a CV summary, inside `cv_dir` wherever the CV ran."""
    return [cv_dir / f"fold_{run['fold']}" / f"seed_{run['seed']}" for run in summary["runs"]]


def checkpoint(run: Path) -> Path:
    """The checkpoint a run tested (best, or the final weights' last), inside the run folder wherever it ran."""
    return run / "checkpoints" / Path(json.loads((run / "metrics.json").read_text())["checkpoint"]).name


def export_run(run: Path, folder: Path, int8: bool, evaluate: bool, latency_runs: int = 20) -> dict:
    """serlab-export of one run into `folder` on one thread (ONNX, and the int8 forms if asked), each form scored
    on the run's test speaker if asked; its export.json (kept: a second call reads it)."""
    record = folder / "export.json"
    if not record.is_file():
        quantize = "[dynamic,static,onnx_dynamic]" if int8 else "[]"
        args = [f"ckpt_path={checkpoint(run)}", f"paths.output_dir={folder}", "formats=[onnx]",
                f"quantize={quantize}", f"evaluate={'test' if evaluate else 'null'}", "threads=1",
                f"latency_runs={latency_runs}"]  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "serlab.cli.export", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"serlab-export {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(record.read_text())


def gzip_mb(path: Path) -> float:
    """The file's size once gzip-compressed, in MB."""
    return len(gzip.compress(path.read_bytes(), compresslevel=9)) / 2**20


def energy_wh(runs: list[Path]) -> float:
    """Training energy of all the runs, in Wh."""
    return 1000 * sum(json.loads((run / "energy.json").read_text())["kwh"] for run in runs)


def cpu_source(out: Path) -> str:
    """How the runs' CPU energy was obtained (measured or estimated), from their energy.json."""
    found = {json.loads(p.read_text())["sources"]["cpu"] for p in out.glob("*/fold_*/seed_*/energy.json")}
    return " / ".join(sorted(found)) or "not tracked"


def pipeline_latency_ms(run: Path, threads: int = 1, calls: int = 20) -> float:
    """Median time of the run's whole PyTorch pipeline (vector streams included) on a 3 s clip."""
    torch.set_num_threads(threads)
    recognizer = load_recognizer(checkpoint(run))
    for stream in recognizer.streams.values():
        if isinstance(stream, PretrainedEmbeddings):
            stream.cache_dir = None  # time the encoder, not a read of its cache
    generator = torch.Generator().manual_seed(0)
    times = []
    with torch.no_grad():
        for i in range(calls + 2):
            clip = 0.1 * torch.randn(1, int(CLIP_SECONDS * recognizer.sample_rate), generator=generator)
            start = time.perf_counter()
            recognizer(clip)
            if i >= 2:
                times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def form_latencies(timing: Path, rounds: int = 7, calls: int = 20) -> dict[str, float]:
    """Median ms per 3 s clip of each exported form in `timing/`, on one thread, measured in interleaved rounds
    (each round times every form once), so a busy spell of the machine touches all forms alike."""
    torch.set_num_threads(1)
    entries = json.loads((timing / "export.json").read_text())["entries"]
    runners = {}
    for e in (e for e in entries if e["form"] in FORMS):
        load = TorchScript().load if e["form"] == "torchscript_int8" else ONNX().load
        runners[e["form"]] = load(timing / e["file"], [INPUT])
    clip = (noise_clip(CLIP_SECONDS, 16000),)
    per_round: dict[str, list[float]] = {form: [] for form in runners}
    for _ in range(rounds):
        for form, run in runners.items():
            per_round[form].append(median_ms(run, clip, calls))
    return {form: statistics.median(values) for form, values in per_round.items()}


def teacher_system(summary: dict, cv_dir: Path, whisper: str) -> System:
    """The teacher with its encoder counted: parameters, weights on disk, pipeline latency."""
    runs = fold_runs(cv_dir, summary)
    encoder = WhisperEncoder(whisper).encoder
    head = json.loads((runs[0] / "metrics.json").read_text())["n_params"]
    encoder_mb = sum(p.numel() * p.element_size() for p in encoder.parameters()) / 2**20
    head_mb = checkpoint(runs[0]).stat().st_size / 2**20
    stats = summary["over_folds"]["uar"]
    return System(
        "teacher (Whisper tiny.en probe)",
        stats["mean"],
        stats["std"],
        {
            "params": float(head + sum(p.numel() for p in encoder.parameters())),
            "size_mb": encoder_mb + head_mb,
            "latency_ms": pipeline_latency_ms(runs[0]),
            "energy_wh": energy_wh(runs),
        },
    )


def student_systems(row: Row, summary: dict, cv_dir: Path) -> list[System]:
    """The row's float ONNX program and, for int8 rows, each int8 form: UAR over folds (the CV's for float, each
    form's own scoring for int8), file size and latency of the first fold's export, timed apart from any training
    (`timing/`), and the training energy of all folds."""
    runs = fold_runs(cv_dir, summary)
    params = float(json.loads((runs[0] / "metrics.json").read_text())["n_params"])
    energy = energy_wh(runs)
    timed = {e["form"]: e for e in export_run(runs[0], cv_dir / "timing", row.int8, False, 50)["entries"]}
    latency = form_latencies(cv_dir / "timing")
    uar = summary["over_folds"]["uar"]
    scored: dict[str, list[float]] = {"onnx": []}
    if row.int8:
        exports = [export_run(run, run / "export", True, True) for run in runs]
        scored = {form: [next(e["uar"] for e in x["entries"] if e["form"] == form) for x in exports] for form in FORMS}
    systems = []
    for form, uars in scored.items():
        mean, std = (uar["mean"], uar["std"]) if not uars else (statistics.fmean(uars), statistics.stdev(uars))
        costs = {"params": params, "size_mb": timed[form]["size_mb"], "latency_ms": latency[form],
                 "gzip_mb": gzip_mb(cv_dir / "timing" / timed[form]["file"])}  # fmt: skip
        label = row.name if form == "onnx" else f"{row.name} · {form}"
        systems.append(System(label, mean, std, {**costs, "energy_wh": energy}))
    return systems


def finished(cv_dir: Path, folds: list[int] | None) -> dict | None:
    """The summary of an earlier CV of this row when it covers the folds asked for, else None."""
    path = cv_dir / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return summary if set(folds or range(10)) <= set(summary["folds"]) else None


def print_markdown(table: Table) -> None:
    """The table as Markdown, for docs/results.md."""
    print("| " + " | ".join(table.header) + " |")
    print("|" + "---|" * len(table.header))
    for row in table.rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", required=True)
    parser.add_argument("--whisper", required=True, help="the whisper-tiny.en folder")
    parser.add_argument("--out", type=Path, required=True, help="CV folders are kept here")
    parser.add_argument("--embeddings", type=Path, default=None, help="data_dir caching the teacher's embeddings")
    parser.add_argument("--only", nargs="+", default=None, help="train these rows only (the page shows all found)")
    parser.add_argument("--folds", type=int, nargs="+", default=None, help="default: all 10")
    parser.add_argument("--page", type=Path, default=Path("docs/green.html"))
    args = parser.parse_args()
    out = args.out.resolve()
    emodb, whisper = str(Path(args.emodb).resolve()), str(Path(args.whisper).resolve())
    systems = []
    for row in rows(out, whisper, (args.embeddings or out / "data").resolve()):
        folds = list(row.folds) if row.folds is not None and args.folds is None else args.folds
        summary = finished(out / row.name, folds)
        if summary is None and (args.only is None or row.name in args.only):
            start = time.perf_counter()
            summary = run_cv(emodb, row, out, folds)
            print(f"{row.name}: trained in {time.perf_counter() - start:.0f} s", flush=True)
        if summary is None:
            continue
        cv_dir = out / row.name
        systems += [teacher_system(summary, cv_dir, whisper)] if row.teacher else student_systems(row, summary, cv_dir)
        uar = summary["over_folds"]["uar"]
        print(f"{row.name}: UAR {uar['mean']:.3f} ± {uar['std']:.3f} over folds {summary['folds']}", flush=True)
    total = sum(s.costs["energy_wh"] for s in systems if " · " not in s.name)
    notes = [
        "EmoDB, honest leave-one-speaker-out (the test speaker never trains, validates or normalises), seed 42",
        "UAR: mean ± std over folds; size: median file over folds; latency: median per 3 s clip, one CPU thread",
        f"training energy of all rows together: {total:.1f} Wh (int8 forms reuse their float row's training); "
        f"CPU energy {cpu_source(out)}",
    ]
    table = write_pareto(systems, args.page, "Green SER on EmoDB: UAR against size, speed and energy", notes)
    print_markdown(table)
    print(f"training energy of all rows: {total:.1f} Wh; page: {args.page}")


if __name__ == "__main__":
    main()
