"""What each byte, millisecond and watt-hour buys in UAR: systems against their costs, Pareto fronts marked.

A system is on the front of a cost when no other system is at least as cheap and at least as accurate, and
strictly better in one of the two. Fronts are drawn per cost, since a model can be small yet slow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from serlab.reports.render import Table, html_page, png_bytes

# cost key -> axis label; lower is better for every one
COSTS = {
    "params": "parameters",
    "size_mb": "model file (MB)",
    # what a sparse (pruned) model saves on disk shows once its zeros are compressed
    "gzip_mb": "model file, gzip-compressed (MB)",
    "latency_ms": "CPU latency per 3 s clip, one thread (ms)",
    "energy_wh": "training energy (Wh)",
}
FIGURE = "pareto"


@dataclass(frozen=True)
class System:
    """One trained system: its UAR (with the spread over folds when known) and what it costs."""

    name: str
    uar: float
    uar_std: float | None = None
    # cost key (as in COSTS) -> value; a cost left out is unknown for this system
    costs: dict[str, float] = field(default_factory=dict)


def dominates(a: System, b: System, cost: str) -> bool:
    """Whether `a` is at least as cheap and as accurate as `b`, and strictly better in one."""
    cheaper, better = a.costs[cost] <= b.costs[cost], a.uar >= b.uar
    return cheaper and better and (a.costs[cost] < b.costs[cost] or a.uar > b.uar)


def front(systems: list[System], cost: str) -> list[System]:
    """The systems no other dominates on `cost`, cheapest first (systems without the cost take no part)."""
    known = [s for s in systems if math.isfinite(s.costs.get(cost, math.nan))]
    kept = [s for s in known if not any(dominates(other, s, cost) for other in known)]
    return sorted(kept, key=lambda s: s.costs[cost])


def costs_present(systems: list[System], costs: Mapping[str, str] = COSTS) -> list[str]:
    """The cost keys at least one system knows, in COSTS order."""
    return [c for c in costs if any(c in s.costs for s in systems)]


def pareto_figure(systems: list[System], costs: list[str]) -> Figure:
    """One panel per cost (log scale): every system as a point, the front joined and filled."""
    fig = Figure(figsize=(5.2 * min(len(costs), 2), 4.2 * math.ceil(len(costs) / 2)), layout="constrained")
    axes = fig.subplots(math.ceil(len(costs) / 2), min(len(costs), 2), squeeze=False).ravel()
    for ax, cost in zip(axes, costs):
        best = front(systems, cost)
        for s in (s for s in systems if cost in s.costs):
            on = s in best
            ax.errorbar(
                s.costs[cost], s.uar, yerr=s.uar_std or 0.0, fmt="o", capsize=2, color="C0" if on else "0.55",
                markerfacecolor="C0" if on else "white",
            )  # fmt: skip
            ax.annotate(s.name, (s.costs[cost], s.uar), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.plot([s.costs[cost] for s in best], [s.uar for s in best], "-", color="C0", drawstyle="steps-post")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # labels on every minor tick of a log axis overlap
        ax.set_xlabel(COSTS[cost])
        ax.set_ylabel("UAR")
        ax.grid(alpha=0.3)
    for ax in axes[len(costs) :]:
        ax.set_visible(False)
    return fig


def pareto_table(systems: list[System], costs: list[str]) -> Table:
    """Every system with its UAR and costs; ★ marks a cost on whose front the system lies."""
    fronts = {c: {s.name for s in front(systems, c)} for c in costs}

    def cell(s: System, cost: str) -> str:
        if cost not in s.costs:
            return "—"
        value = s.costs[cost]
        shown = f"{value:,.0f}" if cost == "params" else f"{value:.3g}"
        return shown + (" ★" if s.name in fronts[cost] else "")

    def accuracy(s: System) -> str:
        return f"{s.uar:.3f}" + (f" ± {s.uar_std:.3f}" if s.uar_std is not None else "")

    rows = [[s.name, accuracy(s), *(cell(s, c) for c in costs)] for s in sorted(systems, key=lambda s: -s.uar)]
    return Table("Systems (★: on the Pareto front of that cost)", ["system", "UAR", *(COSTS[c] for c in costs)], rows)


def write_pareto(systems: list[System], path: Path, title: str, notes: list[str]) -> Table:
    """An HTML page with the figure and the table (the figure also as PNG beside it); returns the table."""
    if not systems:
        raise ValueError("no systems to compare")
    costs = costs_present(systems)
    fig = pareto_figure(systems, costs)
    image = png_bytes(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".png").write_bytes(image)
    table = pareto_table(systems, costs)
    headings = {FIGURE: "UAR against each cost (filled and joined: the Pareto front)"}
    path.write_text(html_page(title, notes, [table], {FIGURE: image}, headings))
    return table
