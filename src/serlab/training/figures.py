"""Figures for dashboards and reports."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from serlab.training.metrics import per_class_recall


def confusion_figure(cm: torch.Tensor, classes: list[str], title: str = "") -> Figure:
    """Row-normalised confusion matrix with counts, one row per true class."""
    recall = per_class_recall(cm).nan_to_num(0)
    share = (cm.double() / cm.sum(dim=1, keepdim=True).clamp_min(1)).numpy()
    size = 1.2 + 0.7 * len(classes)
    # A bare Figure needs no GUI backend and no pyplot state to close.
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} ({r:.0%})" for c, r in zip(classes, recall.tolist())])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (recall)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def bar_figure(values: dict[str, float], title: str, ylabel: str, chance: float | None = None) -> Figure:
    """One bar per named value in [0, 1], labelled with its value; `chance` draws a dashed, labelled line."""
    fig = Figure(figsize=(1.5 + 0.55 * len(values), 3.6))
    ax = fig.subplots()
    # positions plus tick labels: names such as speaker "03" must not be read as numbers
    bars = ax.bar(range(len(values)), list(values.values()), color="#4c72b0", tick_label=list(values))
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="black", linestyle="--", linewidth=1, label=f"chance level ({chance:.2f})")
        ax.legend(loc="best", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    return fig
