import csv

from serlab.loggers.csv_logs import ContinuingCSVLogger


def _log(logger: ContinuingCSVLogger, epoch: int, step: int, **metrics: float) -> None:
    logger.log_metrics({**metrics, "epoch": epoch}, step=step)
    logger.save()


def _rows(logger: ContinuingCSVLogger) -> list[tuple[str, str, str]]:
    with open(logger.experiment.metrics_file_path, newline="") as f:
        return [(r["epoch"], r["step"], r.get("val/uar", "")) for r in csv.DictReader(f)]


def test_a_second_attempt_continues_metrics_csv_replacing_the_epochs_it_logs_again(tmp_path):
    first = ContinuingCSVLogger(tmp_path, name="csv", version="")
    _log(first, 0, 2, **{"train/loss": 1.0})
    _log(first, 0, 2, **{"val/uar": 0.5})
    _log(first, 1, 3, **{"train/loss": 0.9})  # the epoch an interrupted attempt had begun
    resumed = ContinuingCSVLogger(tmp_path, name="csv", version="")
    _log(resumed, 1, 3, **{"train/loss": 0.8})
    _log(resumed, 1, 5, **{"val/uar": 0.6})
    assert _rows(resumed) == [("0", "2", ""), ("0", "2", "0.5"), ("1", "3", ""), ("1", "5", "0.6")]
