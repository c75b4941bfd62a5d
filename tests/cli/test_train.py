"""End-to-end runs of serlab-train and serlab-eval on the tiny synthetic corpus."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from serlab.cli.eval import evaluate
from serlab.cli.train import train
from tests.conftest import cli_overrides, compose_train, run_cli


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _test_ids(run: Path) -> list[str]:
    return sorted(r["id"] for r in _read_csv(run / "split.csv") if r["split"] == "test")


def test_fast_dev_run_on_cpu(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "debug=fdr")
    metrics = train(cfg)
    assert {"test/uar", "test/war", "test/f1", "test/loss"} <= set(metrics)
    run = tmp_path / "run"
    record = json.loads((run / "metrics.json").read_text())
    assert record["classes"] == ["neutral", "happy", "angry", "sad"]
    assert len(record["confusion_matrix"]) == 4


@pytest.mark.slow
def test_train_resume_and_eval_reproduce(tmp_path, data_dir):
    first = compose_train(
        tmp_path / "a", data_dir, "debug=limit", "trainer.max_epochs=1", "trainer.limit_test_batches=1.0"
    )
    train(first)
    run = tmp_path / "a" / "run"
    assert {"best.ckpt", "last.ckpt"} <= {p.name for p in (run / "checkpoints").iterdir()}
    assert (run / "csv" / "test_confusion_matrix.png").stat().st_size > 0

    # Resume: the second run starts at epoch 1 with the optimizer state of the first.
    second = compose_train(
        tmp_path / "b",
        data_dir,
        "debug=limit",
        "trainer.max_epochs=2",
        f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
    )
    train(second)
    resumed = tmp_path / "b" / "run"
    epochs = {int(r["epoch"]) for r in _read_csv(resumed / "csv" / "metrics.csv") if r.get("train/loss_epoch")}
    assert epochs == {1}
    last = torch.load(resumed / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1 and last["global_step"] == 2 * 3  # two epochs of three batches

    # serlab-eval on the best checkpoint scores the same test set to the same metrics.
    trained = json.loads((run / "metrics.json").read_text())
    eval_cfg = compose_train(
        tmp_path / "c", data_dir, f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", config_name="eval"
    )
    metrics = evaluate(eval_cfg)
    for key in ("test/uar", "test/war", "test/f1"):
        assert metrics[key] == pytest.approx(trained["metrics"][key], abs=1e-6)
    evaluated = tmp_path / "c" / "run"
    assert json.loads((evaluated / "metrics.json").read_text())["confusion_matrix"] == trained["confusion_matrix"]
    assert _read_csv(evaluated / "predictions.csv") == _read_csv(run / "predictions.csv")


def test_eval_refuses_a_foreign_checkpoint(tmp_path, data_dir):
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    cfg = compose_train(tmp_path, data_dir, f"ckpt_path={tmp_path / 'other.ckpt'}", config_name="eval")
    with pytest.raises(ValueError, match="not written by serlab-train"):
        evaluate(cfg)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_scores_each_test_utterance_once(tmp_path, data_dir):
    run_cli(
        "serlab.cli.train",
        *cli_overrides(tmp_path, data_dir),
        "trainer=ddp_cpu",
        "debug=limit",
        "trainer.max_epochs=1",
        "trainer.limit_test_batches=1.0",
        "data.eval_batch_size=5",  # uneven shards: 18 test utterances over 2 processes in batches of 5
        cwd=tmp_path,
    )
    (run,) = (tmp_path / "runs" / "debug" / "runs").iterdir()
    record = json.loads((run / "metrics.json").read_text())
    predicted = sorted(r["id"] for r in _read_csv(run / "predictions.csv"))
    assert predicted == _test_ids(run)
    assert sum(map(sum, record["confusion_matrix"])) == len(predicted)

    # One process scoring the same checkpoint gives the same metrics and the same prediction per utterance.
    alone = compose_train(
        tmp_path / "alone", data_dir, f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", config_name="eval"
    )
    metrics = evaluate(alone)
    for key in ("test/uar", "test/war", "test/f1"):
        assert metrics[key] == pytest.approx(record["metrics"][key], abs=1e-6)
    single = tmp_path / "alone" / "run"
    assert json.loads((single / "metrics.json").read_text())["confusion_matrix"] == record["confusion_matrix"]
    picks = [(r["id"], r["predicted"]) for r in _read_csv(run / "predictions.csv")]
    assert [(r["id"], r["predicted"]) for r in _read_csv(single / "predictions.csv")] == picks


@pytest.mark.slow
@pytest.mark.parametrize("logger", ["wandb", "many"])
def test_loggers_run_offline(tmp_path, data_dir, logger):
    overrides = [*cli_overrides(tmp_path, data_dir), f"logger={logger}", "debug=limit"]
    proc = run_cli("serlab.cli.train", *overrides, cwd=tmp_path)
    (run,) = (tmp_path / "runs" / "debug" / "runs").iterdir()
    assert list((run / "wandb").glob("offline-run-*")), "wandb did not fall back to an offline run"
    assert "wandb sync" in proc.stdout + proc.stderr
    if logger == "many":
        assert list((run / "tensorboard").glob("events.out.tfevents.*"))
        assert (run / "csv" / "metrics.csv").is_file()
        assert list((tmp_path / "runs" / "mlartifacts").rglob("test/confusion_matrix.png"))
        assert (tmp_path / "runs" / "mlflow.db").stat().st_size > 0


def test_reported_val_metrics_are_the_tested_checkpoints_not_the_last_epochs(tmp_path, data_dir, capsys):
    spoil = "+callbacks.spoil={_target_:tests.training.faults.ZeroWeightsAt,epoch:2}"  # the last epoch scores at chance
    metrics = train(compose_train(tmp_path, data_dir, "debug=limit", "trainer.max_epochs=3", spoil))
    run = tmp_path / "run"
    rows = _read_csv(run / "csv" / "metrics.csv")
    by_epoch = {int(r["epoch"]): float(r["val/uar"]) for r in rows if r.get("val/uar")}
    best = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    (state,) = [s for k, s in best["callbacks"].items() if k.startswith("ModelCheckpoint")]
    kept = float(state["best_model_score"])
    assert best["epoch"] < 2 and kept == pytest.approx(by_epoch[best["epoch"]]) and kept != by_epoch[2]
    recorded = json.loads((run / "metrics.json").read_text())["metrics"]
    assert recorded["val/uar"] == metrics["val/uar"] == pytest.approx(kept, abs=1e-7)
    assert f"val/uar={kept:.4f}" in capsys.readouterr().out


@pytest.mark.slow
def test_a_killed_run_resumed_in_its_folder_keeps_every_epochs_logs_and_tracked_runs(tmp_path, data_dir, monkeypatch):
    from mlflow import MlflowClient
    from omegaconf import OmegaConf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    args = [*cli_overrides(tmp_path, data_dir), "debug=limit", "logger=many", "trainer.log_every_n_steps=1"]
    args.append(f"hydra.run.dir={run}")
    # kill -9 in epoch 1 of 0..2, then resume as users do: the same command with ckpt_path=last
    kill = "+callbacks.kill={_target_:tests.training.faults.SignalAt,epoch:1,batch:2,signum:9}"
    run_cli("serlab.cli.train", *args, kill, cwd=tmp_path, expect=-9)
    run_cli("serlab.cli.train", *args, "ckpt_path=last", cwd=tmp_path)

    # 3 epochs of 3 batches: every step and every epoch's validation once, the killed attempt's included
    rows = _read_csv(run / "csv" / "metrics.csv")
    assert [int(r["step"]) for r in rows if r.get("train/loss_step")] == list(range(9))
    assert [int(r["epoch"]) for r in rows if r.get("val/uar")] == [0, 1, 2]
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss_step")] == list(range(9))
    assert len(events.Scalars("val/uar")) == 3

    # wandb and MLflow: the resumed attempt continued the run the first one started
    wandb_id = (run / "wandb" / "run_id").read_text().strip()
    assert [p.name.rsplit("-", 1)[1] for p in (run / "wandb").glob("offline-run-*")] == [wandb_id, wandb_id]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(OmegaConf.load(run / ".hydra" / "config.yaml").logger.mlflow.tracking_uri)
    (tracked,) = client.search_runs([client.get_experiment_by_name("debug").experiment_id])
    assert tracked.info.run_id == (run / "mlflow_run_id").read_text().strip()
    assert len(client.get_metric_history(tracked.info.run_id, "val/uar")) == 3

    resumed_from = run / "checkpoints" / "last.ckpt"
    assert f"Restoring states from the checkpoint path at {resumed_from}" in (run / "train.log").read_text()


@pytest.mark.slow
def test_the_run_log_keeps_the_runs_messages_without_noise_or_progress_bars(tmp_path, data_dir):
    proc = run_cli(
        "serlab.cli.train", *cli_overrides(tmp_path, data_dir), "debug=limit", "trainer.max_epochs=2", "logger=wandb",
        cwd=tmp_path, env={"WANDB_SILENT": "false"},
    )  # fmt: skip
    (run,) = (tmp_path / "runs" / "debug" / "runs").iterdir()
    log = (run / "train.log").read_text()
    assert "model summary:" in log and "`Trainer.fit` stopped: `max_epochs=2` reached." in log  # Lightning's messages
    assert "smaller than the logging interval" in log  # a Lightning warning
    assert len([line for line in log.splitlines() if "epoch 0: " in line]) == 1  # one line per epoch off a terminal
    assert len([line for line in log.splitlines() if "epoch 1: " in line]) == 1
    output = proc.stdout + proc.stderr
    for noise in ("litlogger", "Total FLOPs", "anonymous setting", "Trainer already configured", "it/s", "v_num"):
        assert noise not in output


def test_a_run_joining_the_reconstruction_stream_trains_and_tests(tmp_path, data_dir):
    run = tmp_path / "run"
    streams = ["data/streams/functionals=egemaps", "reconstruction=autoencoder", "reconstruction.epochs=20"]
    head = ["model=vector_head", "model.streams=[functionals,reconstruction]"]
    run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), *streams, *head, "debug=limit",
            "trainer.max_epochs=2", f"hydra.run.dir={run}", cwd=tmp_path)  # fmt: skip
    assert 0.0 <= json.loads((run / "metrics.json").read_text())["metrics"]["test/uar"] <= 1.0
    weights = torch.load(run / "checkpoints" / "best.ckpt", weights_only=False)["state_dict"]
    # the autoencoder's fitted weights are in the checkpoint; the head reads the 88 functionals and their 88 errors
    assert bool(weights["reconstruction.fitted"]) and weights["reconstruction.decoder.weight"].shape == (88, 32)
    assert weights["model.head.weight"].shape == (4, 88 + 88)
