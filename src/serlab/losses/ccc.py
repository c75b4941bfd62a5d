"""Concordance correlation for dimensional targets (arousal, valence, dominance)."""

from __future__ import annotations

import torch
from torch import nn

from serlab.data.collate import Batch
from serlab.models.output import ModelOutput


def concordance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient of two 1-D tensors."""
    pred, target = pred.float(), target.float()
    pm, tm = pred.mean(), target.mean()
    covariance = ((pred - pm) * (target - tm)).mean()
    return 2 * covariance / (pred.var(unbiased=False) + target.var(unbiased=False) + (pm - tm) ** 2 + 1e-8)


def regression_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - CCC over the rows that have a rating (NaN marks a missing one); 0 when fewer than two do."""
    valid = ~torch.isnan(target)
    if valid.sum() < 2:
        return prediction.sum() * 0.0
    return 1 - concordance(prediction.squeeze(-1)[valid], target[valid])


class CCC(nn.Module):
    """Mean of 1 - CCC over the model's dimensional heads; the emotion head is not trained."""

    frame_level = False

    def __init__(self, tasks: tuple[str, ...] | list[str] = ("arousal", "valence")) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("loss.tasks must name at least one dimensional head, e.g. [arousal, valence]")
        self.tasks = list(tasks)

    def n_outputs(self, n_classes: int) -> int:
        return n_classes

    def forward(self, output: ModelOutput, batch: Batch) -> torch.Tensor:
        missing = [t for t in self.tasks if t not in output.heads]
        if missing:
            raise ValueError(f"loss=ccc needs model heads {missing}: use model=multitask +model.tasks.{missing[0]}=1")
        return torch.stack([regression_loss(output.heads[t], batch.aux[t]) for t in self.tasks]).mean()

    def predict(self, output: ModelOutput) -> torch.Tensor:
        return output.utterance_logits().float().softmax(dim=-1)
