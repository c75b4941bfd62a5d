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
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} ({r:.0%})" for c, r in zip(classes, recall.tolist())])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (recall)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
