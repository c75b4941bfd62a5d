"""The model's layer table, written to the run's log."""

from __future__ import annotations

import logging
from typing import Any

from lightning.pytorch import callbacks
from lightning.pytorch.utilities.model_summary import get_human_readable_count

log = logging.getLogger(__name__)


class ModelSummary(callbacks.ModelSummary):
    """Lightning's layer table and parameter counts, logged (so the run's log file keeps them) without FLOPs.

    Lightning counts FLOPs only for modules with an `example_input_array`, which serlab's models (inputs of
    any length) have not, so every count would read 0.
    """

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        rows = [[name for name, _ in columns], *zip(*(values for _, values in columns))]
        widths = [max(map(len, cells)) for cells in zip(*rows)]
        lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "-+-".join("-" * width for width in widths))
        trainable = get_human_readable_count(trainable_parameters).strip()
        frozen = get_human_readable_count(total_parameters - trainable_parameters).strip()
        lines.append(f"{trainable} trainable and {frozen} frozen parameters, {model_size:.1f} MB")
        log.info("model summary:\n%s", "\n".join(lines))
