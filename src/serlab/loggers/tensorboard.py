"""A TensorBoard logger whose resumed runs show each step once."""

from __future__ import annotations

from collections.abc import Mapping

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.event_pb2 import Event, SessionLog


class ContinuingTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger, marking where each attempt of a run starts logging.

    Earlier attempts' event files stay in the folder. The first step an attempt logs is written as a restart
    (a SessionLog START event), which makes TensorBoard drop what earlier attempts logged from that step on:
    the steps of an interrupted epoch, which the resumed run logs again.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._start_marked = False

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if step is not None and not self._start_marked:
            self._start_marked = True
            start = Event(step=step, session_log=SessionLog(status=SessionLog.START))
            self.experiment._get_file_writer().add_event(start)
        super().log_metrics(metrics, step)
