"""serlab-cv end to end: every fold trains, the report aggregates them, an interrupted CV continues."""

import json
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from serlab.cli.cv import report_notes, summary_loggers
from tests.conftest import cli_overrides, compose_train, run_cli


@pytest.mark.slow
def test_cv_runs_folds_reports_and_continues(tmp_path, data_dir):
    cv_dir = tmp_path / "cv"
    args = [
        *cli_overrides(tmp_path, data_dir),
        "debug=limit",
        "trainer.max_epochs=1",
        "cv.folds=[0,1]",
        "callbacks=[default,energy]",
        f"hydra.run.dir={cv_dir}",
    ]
    run_cli("serlab.cli.cv", *args, cwd=tmp_path)
    summary = json.loads((cv_dir / "summary.json").read_text())
    fold_uar = [
        json.loads((cv_dir / f"fold_{k}" / "seed_42" / "metrics.json").read_text())["metrics"]["test/uar"]
        for k in (0, 1)
    ]
    assert summary["per_fold"]["uar"] == {"0": pytest.approx(fold_uar[0]), "1": pytest.approx(fold_uar[1])}
    assert summary["over_folds"]["uar"]["mean"] == pytest.approx(sum(fold_uar) / 2)
    assert {"report.md", "report.html", "cv_config.yaml"} <= {p.name for p in cv_dir.iterdir()}
    # the training energy of the whole CV is the sum of its runs'
    fold_kwh = [json.loads((cv_dir / f"fold_{k}" / "seed_42" / "energy.json").read_text())["kwh"] for k in (0, 1)]
    assert summary["training_energy_kwh"] == pytest.approx(sum(fold_kwh)) and min(fold_kwh) > 0
    assert "training energy, 2 trainings" in (cv_dir / "report.md").read_text()

    # Fold 1 "interrupted": no test metrics yet. Starting again keeps fold 0 and reruns fold 1 only.
    kept = cv_dir / "fold_0" / "seed_42" / "metrics.json"
    before = kept.stat().st_mtime_ns
    (cv_dir / "fold_1" / "seed_42" / "metrics.json").unlink()
    proc = run_cli("serlab.cli.cv", *args, cwd=tmp_path)
    assert "fold 0 seed 42: finished earlier" in proc.stdout + proc.stderr
    assert kept.stat().st_mtime_ns == before
    assert (cv_dir / "fold_1" / "seed_42" / "metrics.json").is_file()

    # The folder belongs to this experiment: another one is refused, naming what differs.
    other = run_cli_failing(tmp_path, [*args, "model=blstm"])
    assert "differs in: model" in other


def run_cli_failing(cwd, args) -> str:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "serlab.cli.cv", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def test_fold_runs_are_grouped_on_dashboards_and_leave_the_cv_config_alone(tmp_path, data_dir):
    from serlab.cli.cv import fold_config
    from tests.conftest import compose_train

    cfg = compose_train(tmp_path, data_dir, "logger=many", config_name="cv")
    run = fold_config(cfg, tmp_path / "f", fold=3, seed=7, group="cv-x", parent_run="abc")
    assert run.data.fold == 3 and run.seed == 7 and "cv" not in run
    assert run.logger.wandb.group == "cv-x" and run.logger.wandb.name == "cv-x/fold_3/seed_7"
    assert run.logger.mlflow.tags["mlflow.parentRunId"] == "abc"
    assert cfg.data.fold == 0 and cfg.logger.wandb.group is None and cfg.paths.output_dir != str(tmp_path / "f")


@pytest.mark.parametrize(("per_speaker", "flag"), [(False, "training-set statistics"), (True, "SPEAKER-ADAPTIVE")])
def test_report_notes_say_how_functionals_were_standardised(tmp_path, data_dir, per_speaker, flag):
    cfg = compose_train(
        tmp_path, data_dir, "model=fusion", "data/streams/functionals=egemaps",
        f"data.streams.functionals.per_speaker={per_speaker}",
    )  # fmt: skip
    one_run = SimpleNamespace(folds=[0], seeds=[1], runs=[], has_seed_ensemble=False, energy_kwh=lambda: None)
    assert any("eGeMAPSv02" in n and flag in n for n in report_notes(cfg, one_run))
    assert not any("SPEAKER-ADAPTIVE" in n for n in report_notes(compose_train(tmp_path, data_dir), one_run))


def test_cv_summary_without_loggers():
    # logger=null: the CV summary goes to no dashboard rather than failing
    assert summary_loggers(OmegaConf.create({"logger": None}), "cv") == []
