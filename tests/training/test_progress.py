"""Live progress bars only on a terminal."""

from __future__ import annotations

import sys

from lightning.pytorch.callbacks import RichProgressBar

from serlab.training.progress import EpochLines, progress_bar


def test_live_bars_on_a_terminal_and_one_line_per_epoch_elsewhere(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert isinstance(progress_bar(), RichProgressBar)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert isinstance(progress_bar(), EpochLines)
