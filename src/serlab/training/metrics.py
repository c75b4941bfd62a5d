"""SER metrics from a confusion matrix (rows: true class, columns: predicted class)."""

from __future__ import annotations

import torch


def per_class_recall(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class; NaN for classes absent from the reference."""
    support = cm.sum(dim=1).double()
    return torch.where(support > 0, cm.diag().double() / support.clamp_min(1), torch.nan)


def uar(cm: torch.Tensor) -> float:
    """Unweighted average recall over the classes present in the reference."""
    recall = per_class_recall(cm)
    return float(recall[~recall.isnan()].mean())


def war(cm: torch.Tensor) -> float:
    """Weighted average recall, i.e. accuracy."""
    return float(cm.diag().sum().double() / cm.sum().clamp_min(1))


def macro_f1(cm: torch.Tensor) -> float:
    """Mean F1 over classes that occur in the reference or in the predictions."""
    tp = cm.diag().double()
    support, predicted = cm.sum(dim=1).double(), cm.sum(dim=0).double()
    seen = (support + predicted) > 0
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    return float(f1[seen].mean())


def summarize(cm: torch.Tensor) -> dict[str, float]:
    """The scalar metrics every run logs."""
    return {"uar": uar(cm), "war": war(cm), "f1": macro_f1(cm)}
