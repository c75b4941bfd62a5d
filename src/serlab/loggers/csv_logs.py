"""A CSV logger that continues the run folder's metrics.csv when a run is resumed."""

from __future__ import annotations

import csv

from lightning.fabric.loggers.csv_logs import _ExperimentWriter
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class _ContinuingWriter(ExperimentWriter):
    """Appends to an existing metrics.csv instead of deleting it.

    Before its first rows are written, the rows of every epoch from the first one it logs onwards are
    dropped: those an interrupted attempt had begun, which the resumed run logs again. So each epoch
    appears once, whether a run starts over in its folder or resumes from its last checkpoint.
    """

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self._trimmed = False
        if self._fs.isfile(self.metrics_file_path):
            self.metrics_keys = sorted(self._read_rows()[0])

    def _check_log_dir_exists(self) -> None:
        """Keep what an earlier attempt wrote (Lightning deletes it here)."""

    def _read_rows(self) -> tuple[list[str], list[dict[str, str]]]:
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            return list(reader.fieldnames or []), list(reader)

    def save(self) -> None:
        if self.metrics and not self._trimmed:
            self._trimmed = True
            self._drop_epochs_from(min((m["epoch"] for m in self.metrics if "epoch" in m), default=None))
        super().save()

    def _drop_epochs_from(self, first: float | None) -> None:
        if first is None or not self._fs.isfile(self.metrics_file_path):
            return
        header, rows = self._read_rows()
        kept = [row for row in rows if not row.get("epoch") or float(row["epoch"]) < first]
        if len(kept) < len(rows):
            with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=header)
                writer.writeheader()
                writer.writerows(kept)


class ContinuingCSVLogger(CSVLogger):
    """Lightning's CSVLogger, except that it continues `metrics.csv` rather than starting it over."""

    @property
    @rank_zero_experiment
    def experiment(self) -> _ExperimentWriter:  # as CSVLogger.experiment declares it
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment
