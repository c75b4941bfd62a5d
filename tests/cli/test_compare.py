"""serlab-compare: ranking run folders and showing only the settings that differ."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from serlab.cli.compare import Options, compare, find_runs, leaderboard, main, parse_args, read_run
from tests.conftest import cli_overrides, run_cli

BASE = {"seed": 42, "paths": {"output_dir": "${hydra:runtime.output_dir}"}, "optimizer": {"lr": 0.001}}


def fake_run(folder: Path, metrics: dict, config: dict, choices: dict | None = None, overrides: tuple = ()) -> Path:
    """A finished run folder as serlab-train leaves it: metrics.json and Hydra's record in .hydra/."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"metrics": metrics, "classes": ["a", "b"], "n_params": 1234}))
    OmegaConf.save(config, folder / ".hydra" / "config.yaml")
    OmegaConf.save(
        {"hydra": {"runtime": {"choices": {"hydra/launcher": "basic", **(choices or {})}}}},
        folder / ".hydra" / "hydra.yaml",
    )
    OmegaConf.save(list(overrides), folder / ".hydra" / "overrides.yaml")
    return folder


def model_config(name: str, hidden: int, **extra) -> dict:
    return {**BASE, "model": {"_target_": f"serlab.models.{name}", "hidden": hidden, **extra}}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Three runs of a sweep over model and learning rate; the crnn one also set its width by hand."""
    root = tmp_path / "multirun"
    fake_run(root / "0", {"test/uar": 0.5, "test/loss": 1.2, "val/uar": 0.6, "train/loss": 0.9},
             model_config("crnn", 64, conv=[8, 16]), {"model": "crnn"}, ("model=crnn", "model.hidden=64"))  # fmt: skip
    fake_run(root / "1", {"test/uar": 0.7, "test/loss": 1.0, "val/uar": 0.5},
             {**model_config("blstm", 128), "optimizer": {"lr": 0.01}}, {"model": "blstm"},
             ("model=blstm", "optimizer.lr=0.01"))  # fmt: skip
    fake_run(root / "2", {"test/uar": 0.6, "test/loss": 0.8, "val/uar": 0.7},
             model_config("blstm", 128), {"model": "blstm"}, ("model=blstm",))  # fmt: skip
    return root


def table(root: Path, metric: str = "test/uar", top: int | None = None) -> list[dict[str, str]]:
    runs = [read_run(p) for p in find_runs(root)]
    columns, rows = leaderboard(runs, root, metric, not metric.endswith("loss"), top)
    return [dict(zip(columns, row)) for row in rows]


def test_leaderboard_ranks_by_the_metric_and_shows_only_what_differs(sweep):
    rows = table(sweep)
    assert [r["run"] for r in rows] == ["1", "2", "0"]
    assert [r["rank"] for r in rows] == ["1", "2", "3"]
    columns = list(rows[0])
    assert columns[:4] == ["rank", "run", "test/uar", "test/loss"]
    # The group option stands for its keys, except those set by hand; shared and location keys stay out.
    assert columns[6:] == ["model", "model.hidden", "optimizer.lr"]
    assert {"seed", "model._target_", "model.conv", "paths.output_dir", "train/loss"}.isdisjoint(columns)
    assert rows[0]["optimizer.lr"] == "0.01" and rows[2]["model.hidden"] == "64" and rows[2]["model"] == "crnn"
    assert rows[0]["params"] == "1,234"


def test_losses_rank_lowest_first_and_top_keeps_the_best(sweep):
    assert [r["run"] for r in table(sweep, "test/loss")] == ["2", "1", "0"]
    assert [r["run"] for r in table(sweep, "val/uar", top=1)] == ["2"]


def test_cli_writes_csv_and_markdown(sweep, tmp_path, capsys):
    out_csv, out_md = tmp_path / "board.csv", tmp_path / "board.md"
    main([str(sweep), "metric=val/uar", f"csv={out_csv}", f"markdown={out_md}"])
    printed = capsys.readouterr().out
    assert "3 runs under" in printed and "best val/uar first (higher is better)" in printed
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == ["2", "0", "1"] and rows[0]["val/uar"] == "0.7000"
    lines = out_md.read_text().splitlines()
    assert lines[0].startswith("| rank | run ") and set(lines[1]) == {"|", "-"} and len(lines) == 5
    assert lines[2] in printed


def test_missing_metric_names_the_runs_without_it(sweep, capsys):
    (sweep / "1" / "metrics.json").write_text(json.dumps({"metrics": {"val/uar": 0.5}}))
    with pytest.raises(SystemExit) as stopped:
        main([str(sweep)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "test/uar is missing in 1 of 3 runs" in err and str(sweep / "1") in err and str(sweep / "0") not in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["{root}/nowhere"], "is not a folder"),
        (["{root}/empty"], "no runs under"),
        (["{root}/multirun", "metric=time/epoch_s"], "add order=max or order=min"),
        (["{root}/multirun", "rank=3"], "unknown option 'rank=3'"),
        (["{root}/multirun", "top=0"], "top=0"),
        (["metric=val/uar"], "usage: serlab-compare RUNS_DIR"),
    ],
)
def test_bad_requests_fail_with_a_clear_message(sweep, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as stopped:
        main([a.format(root=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and message in err and err.count("\n") == 1


def test_runs_without_hydra_record_are_read_from_their_checkpoint(tmp_path):
    # Runs trained through the Python API (train(cfg)) leave no .hydra/ record: metrics.json and checkpoints only.
    for fold, lr in ((0, 0.001), (1, 0.003)):
        folder = tmp_path / "cv" / f"fold_{fold}"
        (folder / "checkpoints").mkdir(parents=True)
        own = str(folder.resolve())
        config = {**BASE, "paths": {"output_dir": own}, "trainer": {"default_root_dir": own}, "optimizer": {"lr": lr}}
        torch.save({"serlab": {"config": config, "classes": ["a", "b"]}}, folder / "checkpoints" / "best.ckpt")
        (folder / "metrics.json").write_text(json.dumps({"metrics": {"test/uar": 0.5 + fold / 10}, "checkpoint": None}))
    rows = table(tmp_path / "cv")
    assert [(r["run"], r["optimizer.lr"]) for r in rows] == [("fold_1", "0.003"), ("fold_0", "0.001")]
    assert "trainer.default_root_dir" not in rows[0]  # each points into its own folder: no difference


def test_arguments_parse_into_options():
    assert parse_args(["runs", "metric=val/f1", "top=3", "order=min", "csv=a.csv"]) == Options(
        Path("runs"), "val/f1", 3, "min", Path("a.csv"), None
    )


@pytest.mark.slow
def test_parallel_multirun_of_two_trainings_is_ranked(tmp_path, data_dir):
    # Two tiny trainings at once through the joblib launcher, then the leaderboard of their multirun folder.
    run_cli(
        "serlab.cli.train", "-m", *cli_overrides(tmp_path, data_dir), "debug=fdr", "model.hidden=16,32",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=tmp_path,
    )  # fmt: skip
    (multirun,) = (tmp_path / "runs" / "debug" / "multiruns").iterdir()
    assert sorted(p.name for p in multirun.iterdir() if p.is_dir()) == ["0", "1"]
    assert not (tmp_path / "runs" / "debug" / "runs").exists()  # no stray single-run folder
    rows = table(multirun, "val/loss")
    assert sorted(r["run"] for r in rows) == ["0", "1"]
    assert sorted(r["model.hidden"] for r in rows) == ["16", "32"]
    assert [c for c in rows[0] if "/" not in c and c not in ("rank", "run", "params")] == ["model.hidden"]
    assert float(rows[0]["val/loss"]) <= float(rows[1]["val/loss"])
    assert compare(Options(multirun, metric="val/loss")).count("\n| ") == 3


def test_pareto_page_takes_a_cv_folder_as_one_system_and_a_loose_run_as_another(tmp_path):
    from serlab.cli.compare import systems_under

    root = tmp_path / "green"
    fold = fake_run(root / "small_cv" / "fold_0" / "seed_42", {"test/uar": 0.6}, model_config("crnn.CRNN", 8))
    record = json.loads((fold / "metrics.json").read_text()) | {"energy": {"kwh": 0.002}}
    (fold / "metrics.json").write_text(json.dumps(record))
    entries = [
        {"form": "pytorch", "size_mb": 0.7, "latency_ms": 9.0},
        {"form": "onnx", "size_mb": 1.0, "latency_ms": 4.0},
    ]
    (fold / "export.json").write_text(json.dumps({"entries": entries}))
    (root / "small_cv" / "summary.json").write_text(json.dumps({
        "over_folds": {"uar": {"mean": 0.65, "std": 0.1}}, "runs": [{"folder": str(fold)}], "training_energy_kwh": 0.02,
    }))  # fmt: skip
    fake_run(root / "big", {"test/uar": 0.8}, model_config("crnn.CRNN", 64))

    systems = {s.name: s for s in systems_under(root, "test/uar")}
    assert set(systems) == {"small_cv", "big"}
    small = systems["small_cv"]
    assert (small.uar, small.uar_std) == (0.65, 0.1)
    # the CV's energy is that of all its trainings; size and latency are the exported ONNX program's
    assert small.costs == {"params": 1234.0, "energy_wh": pytest.approx(20.0), "size_mb": 1.0, "latency_ms": 4.0}
    assert systems["big"].uar == 0.8 and systems["big"].costs == {"params": 1234.0}

    page = tmp_path / "pareto.html"
    main([str(root), f"pareto={page}"])
    assert "small_cv" in page.read_text() and page.with_suffix(".png").is_file()
    with pytest.raises(SystemExit):
        main([str(root), "metric=test/loss", f"pareto={page}"])
