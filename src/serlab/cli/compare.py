"""serlab-compare: a leaderboard of the runs under a folder, with the config keys in which they differ.

    serlab-compare RUNS_DIR [metric=test/uar] [top=N] [order=max|min] [csv=FILE] [markdown=FILE] [pareto=FILE]

pareto=FILE.html draws UAR against parameters, model file size, CPU latency (from a serlab-export in the run
folder) and training energy, Pareto fronts marked: a serlab-cv folder is one system (UAR mean ± std over folds,
energy of all its trainings), a run outside any CV another.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from serlab.cli.commands import reporting_user_errors
from serlab.configs import plain
from serlab.errors import UserError

if TYPE_CHECKING:
    from serlab.reports.pareto import System

# serlab-train and serlab-eval write it when a run has been tested: it marks a finished run folder.
METRICS_FILE = "metrics.json"
# serlab-cv writes it into the CV folder once every fold has run
CV_SUMMARY = "summary.json"
HIGHER_IS_BETTER = ("uar", "war", "f1", "ccc")
LOWER_IS_BETTER = ("loss",)
# Metric families shown beside the ranking metric (train/ and time/ ones describe the fit, not the result).
SHOWN_METRICS = ("val/", "test/")
# Where a run wrote its files says nothing about how it trained.
IGNORED_PREFIXES = ("paths.",)


@dataclass(frozen=True)
class Options:
    """What serlab-compare was asked for."""

    runs_dir: Path
    metric: str = "test/uar"
    top: int | None = None
    order: str | None = None
    csv: Path | None = None
    markdown: Path | None = None
    pareto: Path | None = None


@dataclass(frozen=True)
class Run:
    """One finished run: scalar metrics, parameter count and its settings."""

    path: Path
    metrics: dict[str, float]
    n_params: int | None
    # flattened dotted keys -> shown value; None when the folder holds no config
    config: dict[str, str] | None
    # config group -> chosen option, e.g. model -> crnn (runs started through Hydra)
    choices: dict[str, str]
    # keys set on the command line, e.g. model.hidden
    overridden: frozenset[str]


def parse_args(argv: list[str]) -> Options:
    """RUNS_DIR followed by key=value options."""
    names = {f.name for f in fields(Options)} - {"runs_dir"}
    usage = (
        "usage: serlab-compare RUNS_DIR [metric=test/uar] [top=N] [order=max|min] [csv=FILE] [markdown=FILE] "
        "[pareto=FILE]"
    )
    if not argv or "=" in argv[0]:
        raise UserError(usage)
    given: dict[str, Any] = {}
    for arg in argv[1:]:
        key, sep, value = arg.partition("=")
        if not sep or key not in names:
            raise UserError(f"unknown option {arg!r}; options: {', '.join(sorted(names))}; {usage}")
        given[key] = value
    if "top" in given:
        if not given["top"].isdigit() or int(given["top"]) < 1:
            raise UserError(f"top={given['top']}: expected a positive whole number")
        given["top"] = int(given["top"])
    if given.get("order") not in (None, "max", "min"):
        raise UserError(f"order={given['order']}: expected max (higher is better) or min")
    for key in ("csv", "markdown", "pareto"):
        if key in given:
            given[key] = Path(given[key])
    return Options(runs_dir=Path(argv[0]), **given)


def find_runs(root: Path) -> list[Path]:
    """Every folder under `root` (itself included) that holds a metrics.json."""
    if not root.is_dir():
        raise UserError(f"RUNS_DIR {root} is not a folder")
    found = sorted(p.parent for p in root.rglob(METRICS_FILE))
    if not found:
        raise UserError(f"no runs under {root}: a run folder holds {METRICS_FILE}, written once a run is tested")
    return found


def shown(value: Any) -> str:
    """A config value as one short string (lists and empty mappings in flow style)."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    if value is None:
        return "null"
    return str(value)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one mapping of dotted keys; lists and empty mappings stay leaves."""
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def saved_config(folder: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The run's config as Hydra saved it, else the one in its checkpoint (runs trained through the Python API)."""
    hydra_config = folder / ".hydra" / "config.yaml"
    if hydra_config.is_file():
        return plain(OmegaConf.load(hydra_config), resolve=False)
    named = record.get("checkpoint")
    for ckpt in ([Path(named)] if named else []) + [folder / "checkpoints" / "best.ckpt"]:
        if ckpt.is_file():
            from serlab.training.checkpointing import load_run  # torch only when a run has no saved config

            return plain(load_run(ckpt)[1], resolve=False)
    return None


def hydra_record(folder: Path) -> tuple[dict[str, str], frozenset[str]]:
    """The run's config-group choices and the keys its command line set, from .hydra/ (empty without)."""
    hydra_file, overrides_file = folder / ".hydra" / "hydra.yaml", folder / ".hydra" / "overrides.yaml"
    choices: dict[str, str] = {}
    if hydra_file.is_file():
        saved = OmegaConf.load(hydra_file).hydra.runtime.choices
        choices = {group: shown(option) for group, option in saved.items() if not group.startswith("hydra/")}
    overridden: set[str] = set()
    if overrides_file.is_file():
        overridden = {str(o).split("=", 1)[0].lstrip("+~") for o in OmegaConf.load(overrides_file)}
    return choices, frozenset(overridden)


def read_run(folder: Path) -> Run:
    """One run folder's metrics, parameter count and settings."""
    path = folder / METRICS_FILE
    try:
        record = json.loads(path.read_text())
        metrics = {k: float(v) for k, v in record["metrics"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: not a serlab metrics record ({err})") from err
    config = saved_config(folder, record)
    own = str(folder.resolve())
    flat = None
    if config is not None:
        # Paths into the run's own folder differ in every run and say nothing about it.
        flat = {
            k: shown(v).replace(own, "<run>") for k, v in flatten(config).items() if not k.startswith(IGNORED_PREFIXES)
        }
    choices, overridden = hydra_record(folder)
    return Run(folder, metrics, record.get("n_params"), flat, choices, overridden)


def run_costs(folder: Path) -> dict[str, float]:
    """Parameters and training energy of a run, and the size and latency of its exported ONNX program (else its
    PyTorch weights) when serlab-export wrote export.json into the run folder."""
    record = json.loads((folder / METRICS_FILE).read_text())
    costs = {"params": float(record["n_params"])} if record.get("n_params") else {}
    if record.get("energy"):
        costs["energy_wh"] = 1000 * float(record["energy"]["kwh"])
    export = folder / "export.json"
    if export.is_file():
        forms = {e["form"]: e for e in json.loads(export.read_text())["entries"]}
        chosen = forms.get("onnx") or forms.get("pytorch")
        if chosen:
            costs |= {"size_mb": float(chosen["size_mb"]), "latency_ms": float(chosen["latency_ms"])}
    return costs


def systems_under(root: Path, metric: str) -> list[System]:
    """Each serlab-cv folder under `root` as one system, and each run outside them as another."""
    from serlab.reports.pareto import System  # torch and matplotlib only when a Pareto page is asked for

    cvs = sorted(p.parent for p in root.rglob(CV_SUMMARY))
    systems = []
    for cv in cvs:
        summary = json.loads((cv / CV_SUMMARY).read_text())
        stats = summary["over_folds"].get(metric.rsplit("/", 1)[-1])
        if not metric.startswith("test/") or stats is None:
            raise UserError(f"pareto: {cv} summarises {', '.join(summary['over_folds'])} over folds, not {metric}")
        costs = run_costs(Path(summary["runs"][0]["folder"]))
        costs.pop("energy_wh", None)  # one fold's; the CV's is the sum over its trainings
        if summary.get("training_energy_kwh"):
            costs["energy_wh"] = 1000 * summary["training_energy_kwh"]
        systems.append(System(cv.relative_to(root).as_posix() or cv.name, stats["mean"], stats["std"], costs))
    for run in find_runs(root):
        if not any(cv in run.parents for cv in cvs):
            score = read_run(run).metrics.get(metric, math.nan)
            systems.append(System(run.relative_to(root).as_posix() or run.name, score, None, run_costs(run)))
    return systems


def higher_is_better(metric: str, order: str | None) -> bool:
    """max for UAR, WAR, F1 and CCC, min for losses; `order` decides for any other metric."""
    if order is not None:
        return order == "max"
    name = metric.rsplit("/", 1)[-1]
    if name.startswith(LOWER_IS_BETTER):
        return False
    if name.startswith(HIGHER_IS_BETTER):
        return True
    raise UserError(f"metric={metric}: is higher or lower better? add order=max or order=min")


def ranked(runs: list[Run], metric: str, descending: bool) -> list[Run]:
    """Runs best first by `metric` (NaN last); every run must have it."""
    missing = [r for r in runs if metric not in r.metrics]
    if missing:
        have = sorted(set.intersection(*(set(r.metrics) for r in runs)))
        raise UserError(
            f"metric={metric} is missing in {len(missing)} of {len(runs)} runs: "
            f"{', '.join(str(r.path) for r in missing)}; metrics every run has: {', '.join(have) or 'none'}"
        )
    sign = -1.0 if descending else 1.0
    return sorted(runs, key=lambda r: (math.isnan(r.metrics[metric]), sign * r.metrics[metric], str(r.path)))


def differing(values: list[dict[str, str]]) -> list[str]:
    """Keys whose value is not the same in every mapping (absent counts as a value)."""
    keys = sorted(set().union(*values))
    return [k for k in keys if len({v.get(k) for v in values}) > 1]


def setting_columns(runs: list[Run]) -> tuple[list[str], list[str]]:
    """The config-group choices and the dotted keys that differ between runs.

    A key under a group whose option differs (model.* when model differs) comes with the option and is
    left out, unless some run set it on its command line.
    """
    groups = differing([r.choices for r in runs])
    configs = [r.config for r in runs if r.config is not None]
    overridden = frozenset().union(*(r.overridden for r in runs))
    prefixes = tuple(g.replace("/", ".") + "." for g in groups)
    keys = [k for k in differing(configs) if not k.startswith(prefixes) or k in overridden]
    return groups, keys


def leaderboard(
    runs: list[Run], root: Path, metric: str, descending: bool, top: int | None
) -> tuple[list[str], list[list[str]]]:
    """Columns and rows: rank, run, the metrics (ranking one first), parameters, then what differs."""
    best = ranked(runs, metric, descending)[:top]
    others = sorted({m for r in runs for m in r.metrics if m.startswith(SHOWN_METRICS)} - {metric})
    groups, keys = setting_columns(runs)
    columns = ["rank", "run", metric, *others, "params", *groups, *keys]
    rows = []
    for i, run in enumerate(best, 1):
        scores = [f"{run.metrics[m]:.4f}" if m in run.metrics else "" for m in (metric, *others)]
        settings = [run.choices.get(g, "") for g in groups] + [(run.config or {}).get(k, "") for k in keys]
        params = f"{run.n_params:,}" if run.n_params is not None else ""
        rows.append([str(i), run.path.relative_to(root).as_posix(), *scores, params, *settings])
    return columns, rows


def markdown(columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown table whose columns line up in plain text too."""
    cells = [[c.replace("|", "\\|") for c in row] for row in [columns, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def write_csv(columns: list[str], rows: list[list[str]], path: Path) -> None:
    """The leaderboard as CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([columns, *rows])


def compare(options: Options) -> str:
    """Rank the runs under `options.runs_dir`, write the requested files, return the table."""
    descending = higher_is_better(options.metric, options.order)
    runs = [read_run(folder) for folder in find_runs(options.runs_dir)]
    columns, rows = leaderboard(runs, options.runs_dir, options.metric, descending, options.top)
    table = markdown(columns, rows)
    if options.csv:
        write_csv(columns, rows, options.csv)
    if options.markdown:
        options.markdown.parent.mkdir(parents=True, exist_ok=True)
        options.markdown.write_text(table)
    if options.pareto:
        if not descending:
            raise UserError(f"pareto={options.pareto}: the Pareto page trades a score (higher is better) against costs")
        from serlab.reports.pareto import write_pareto

        notes = [f"{options.metric} against each cost; serlab-cv folders: mean ± std over folds, energy of all folds"]
        write_pareto(systems_under(options.runs_dir, options.metric), options.pareto, f"{options.runs_dir}", notes)
    without = [r.path for r in runs if r.config is None]
    if without:
        print(f"no saved config in {', '.join(map(str, without))}: their settings are not compared", file=sys.stderr)
    direction = "higher" if descending else "lower"
    return f"{len(runs)} runs under {options.runs_dir}, best {options.metric} first ({direction} is better)\n\n{table}"


@reporting_user_errors
def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    print(compare(parse_args(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
