"""CTC over frame-level emotion emissions (Chernykh and Prikhodko 2017)."""

from __future__ import annotations

import torch
from torch import nn

from serlab.data.collate import Batch
from serlab.lengths import length_mask
from serlab.models.output import ModelOutput

BLANK = 0


def best_path(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Greedy CTC decoding: per utterance, frame argmaxes with repeats merged and blanks removed."""
    decoded = []
    for path, n in zip(log_probs.argmax(dim=-1).tolist(), lengths.tolist()):
        tokens, previous = [], BLANK
        for token in path[:n]:
            if token != previous and token != BLANK:
                tokens.append(token)
            previous = token
        decoded.append(tokens)
    return decoded


class CTC(nn.Module):
    """The utterance's emotion is the target sequence of length one; frames may emit it or a blank.

    Emissions have n_classes + 1 outputs (index 0 is the blank). The utterance label is the class
    decoded most often on the best path; ties, and paths that decode to nothing, fall back to the
    class with the highest mean posterior over the utterance's frames.
    """

    frame_level = True

    def __init__(self, zero_infinity: bool = True) -> None:
        super().__init__()
        self.ctc = nn.CTCLoss(blank=BLANK, zero_infinity=zero_infinity)

    def n_outputs(self, n_classes: int) -> int:
        return n_classes + 1

    def forward(self, output: ModelOutput, batch: Batch) -> torch.Tensor:
        frame_logits, lengths = output.frames()
        log_probs = frame_logits.float().log_softmax(dim=-1)
        targets = (batch.targets + 1)[:, None]
        ones = torch.ones_like(batch.targets)
        return self.ctc(log_probs.transpose(0, 1), targets, lengths, ones)

    def predict(self, output: ModelOutput) -> torch.Tensor:
        """Per-class scores normalised to sum to one; the argmax is the decoded label."""
        frame_logits, lengths = output.frames()
        log_probs = frame_logits.float().log_softmax(dim=-1)
        mask = length_mask(lengths, log_probs.shape[1]).unsqueeze(-1)
        posterior = (log_probs.exp() * mask).sum(dim=1)[:, 1:] / lengths[:, None].clamp_min(1)
        counts = torch.zeros_like(posterior)
        for row, tokens in enumerate(best_path(log_probs, lengths)):
            for token in tokens:
                counts[row, token - 1] += 1
        # Counts decide; the mean posterior (< 1) only breaks ties and covers empty decodes.
        scores = counts + posterior / posterior.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return scores / scores.sum(dim=-1, keepdim=True)
