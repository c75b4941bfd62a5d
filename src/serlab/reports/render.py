"""The cross-validation report as Markdown (figures beside it) and as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from serlab.reports.crossval import HEADLINE, CVSummary
from serlab.training.figures import bar_figure, confusion_figure
from serlab.training.metrics import summarize


@dataclass(frozen=True)
class Table:
    """A titled table of already formatted cells."""

    title: str
    header: list[str]
    rows: list[list[str]]


def _pm(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def tables(summary: CVSummary) -> list[Table]:
    """Headline, per-fold, per-class, per-speaker and per-gender tables.

    Spreads over seeds and the seed ensemble are shown only when several seeds ran: one seed has neither.
    """
    pooled = summarize(summary.pooled_confusion)
    several = summary.has_seed_ensemble
    headline = Table(
        "Test metrics",
        ["Metric", "Mean ± std over folds", *(["Mean ± std over seeds"] if several else []), "Pooled",
         *(["Seed ensemble, mean ± std over folds"] if several else [])],
        [[k.upper(), _pm(summary.over_folds(k)), *([_pm(summary.over_seeds(k))] if several else []), f"{pooled[k]:.3f}",
          *([_pm(summary.seed_ensemble_over_folds(k))] if several else [])]
         for k in HEADLINE],
    )  # fmt: skip
    per_fold = {k: summary.fold_metric(k) for k in HEADLINE}
    folds = Table(
        "Per fold" + (" (mean over seeds)" if several else ""),
        ["Fold", *(k.upper() for k in HEADLINE)],
        [[str(f), *(f"{per_fold[k][f]:.3f}" for k in HEADLINE)] for f in summary.folds],
    )
    recall = Table(
        "Per-class recall (pooled)", ["Class", "Recall"],
        [[c, f"{r:.3f}"] for c, r in summary.per_class_recall().items()],
    )
    speakers = Table(
        "Per-speaker UAR (pooled)", ["Speaker", "UAR"], [[s, f"{u:.3f}"] for s, u in summary.uar_by("speaker").items()]
    )
    gap = summary.gender_gap()
    gender = Table(
        "Per-gender UAR (pooled)" + (f", gap {gap:.3f}" if gap is not None else ""),
        ["Gender", "UAR"],
        [[g, f"{u:.3f}"] for g, u in summary.uar_by("gender").items()],
    )
    return [headline, folds, recall, speakers, gender]


# Each figure's file stem and the heading it appears under in the report.
HEADINGS = {
    "confusion_matrix": "Confusion matrix (pooled)",
    "per_class_recall": "Per-class recall (pooled)",
    "per_fold_uar": "UAR per fold",
    "per_speaker_uar": "UAR per test speaker (pooled)",
}


def figures(summary: CVSummary) -> dict[str, Figure]:
    """The report's plots, keyed by file stem (as in HEADINGS); bar charts mark the chance level."""
    chance = 1 / len(summary.classes)
    return {
        "confusion_matrix": confusion_figure(
            summary.pooled_confusion, summary.classes, title="Pooled over folds and seeds"
        ),
        "per_class_recall": bar_figure(summary.per_class_recall(), "Per-class recall", "Recall", chance),
        "per_fold_uar": bar_figure(
            {str(f): u for f, u in summary.fold_metric("uar").items()}, "UAR per fold", "UAR", chance
        ),
        "per_speaker_uar": bar_figure(summary.uar_by("speaker"), "UAR per test speaker", "UAR", chance),
    }


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG data."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def markdown(title: str, notes: list[str], tabs: list[Table], images: dict[str, str]) -> str:
    """Report text in Markdown; `images` maps a figure name to its relative path."""
    lines = [f"# {title}", "", *(f"- {n}" for n in notes), ""]
    for table in tabs:
        lines += [f"## {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        lines.append("")
    for name, path in images.items():
        lines += [f"## {HEADINGS[name]}", "", f"![{HEADINGS[name]}]({path})", ""]
    return "\n".join(lines)


def html_page(
    title: str, notes: list[str], tabs: list[Table], images: dict[str, bytes], headings: Mapping[str, str] = HEADINGS
) -> str:
    """Report as one HTML page with the figures embedded (each under `headings[name]`), so it opens anywhere
    without its folder."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;max-width:64em;margin:2em auto}}"
        "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:right}img{max-width:100%}</style></head><body>",
        f"<h1>{esc(title)}</h1><ul>{''.join(f'<li>{esc(n)}</li>' for n in notes)}</ul>",
    ]
    for table in tabs:
        head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table.rows)
        parts.append(f"<h2>{esc(table.title)}</h2><table><tr>{head}</tr>{body}</table>")
    for name, data in images.items():
        parts.append(f"<h2>{esc(headings[name])}</h2><img alt='{esc(headings[name])}' src='data:image/png;base64,"
                     f"{base64.b64encode(data).decode()}'>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(summary: CVSummary, folder: Path, title: str, notes: list[str]) -> dict[str, Figure]:
    """Write report.md (with figures/*.png) and report.html into `folder`; return the figures."""
    figs = figures(summary)
    images = {name: png_bytes(fig) for name, fig in figs.items()}
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (folder / "figures" / f"{name}.png").write_bytes(data)
    tabs = tables(summary)
    (folder / "report.md").write_text(markdown(title, notes, tabs, {n: f"figures/{n}.png" for n in images}))
    (folder / "report.html").write_text(html_page(title, notes, tabs, images))
    return figs
