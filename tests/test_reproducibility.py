"""Reproducibility: the same seed gives bit-identical results, and a run killed (SIGKILL), stopped
(SIGTERM) or requeued by SLURM mid-epoch resumes with `ckpt_path=last` to exactly the result of an
uninterrupted run. The interrupted runs are real subprocesses receiving real signals."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from serlab.cli.train import train
from serlab.training.preemption import INTERRUPTED
from tests.conftest import cli_overrides, compose_train, run_cli

# Every source of training randomness at once: shuffling, random crops, dropout, noise, SpecAugment,
# mixup. The same command starts a run (no last.ckpt yet) and resumes it.
RUN = [
    "regularizer=[dropout,noise,specaugment,mixup]",
    "data.max_duration=1.0",
    "model.channels=[4,8]",
    "model.pools=[[2,2],[2,2]]",
    "model.hidden=16",
    "trainer.max_epochs=3",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "ckpt_path=last",
]


def _signal_at_epoch_2(signum: int) -> str:
    """A test-only callback that sends `signum` to the run as the second batch of its second epoch starts."""
    return f"+callbacks.fault={{_target_:tests.training.faults.SignalAt,epoch:1,batch:1,signum:{signum}}}"


def _train_cli(tmp_path: Path, data_dir: Path, *extra: str, expect: int = 0, env: dict[str, str] | None = None):
    overrides = [*cli_overrides(tmp_path, data_dir), *RUN, f"hydra.run.dir={tmp_path / 'run'}", *extra]
    return run_cli("serlab.cli.train", *overrides, cwd=tmp_path, expect=expect, env=env)


def _outcome(run: Path) -> tuple[dict, list, str]:
    """Validation and test metrics (full float precision), the test confusion matrix and predictions.csv."""
    record = json.loads((run / "metrics.json").read_text())
    scores = {k: v for k, v in record["metrics"].items() if k.startswith(("val/", "test/"))}
    return scores, record["confusion_matrix"], (run / "predictions.csv").read_text()


def _last(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[dict, list, str]:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    train(compose_train(tmp, data_dir, *RUN))
    return _outcome(tmp / "run")


@pytest.mark.slow
def test_the_same_seed_gives_bit_identical_results_with_or_without_loader_workers(tmp_path, data_dir, uninterrupted):
    train(compose_train(tmp_path, data_dir, *RUN, "data.num_workers=2"))
    assert _outcome(tmp_path / "run") == uninterrupted


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path, data_dir, uninterrupted):
    _train_cli(tmp_path, data_dir, _signal_at_epoch_2(signal.SIGKILL), expect=-signal.SIGKILL)
    assert _last(tmp_path / "run")["epoch"] == 0  # only the first epoch was saved
    _train_cli(tmp_path, data_dir)
    assert _outcome(tmp_path / "run") == uninterrupted


@pytest.mark.slow
def test_sigterm_saves_the_last_batch_exits_143_and_resumes_to_the_uninterrupted_result(
    tmp_path, data_dir, uninterrupted
):
    proc = _train_cli(tmp_path, data_dir, _signal_at_epoch_2(signal.SIGTERM), expect=INTERRUPTED)
    assert INTERRUPTED == 143 and "with ckpt_path=last to continue" in proc.stdout + proc.stderr
    last = _last(tmp_path / "run")
    assert (last["epoch"], last["global_step"]) == (1, 3 + 2)  # stopped after the second batch of epoch 2
    _train_cli(tmp_path, data_dir)
    assert _outcome(tmp_path / "run") == uninterrupted


@pytest.mark.slow
def test_under_slurm_the_requeue_signal_saves_requeues_and_the_following_sigterm_exits_143(tmp_path, data_dir):
    # A stand-in for SLURM's scontrol: it records the requeue and, as SLURM does, ends the job with SIGTERM.
    bin_dir, calls = tmp_path / "bin", tmp_path / "scontrol.log"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nkill -TERM "$PPID"\n')
    scontrol.chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "serlab", "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1",
             "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}  # fmt: skip
    env = {**slurm, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    _train_cli(tmp_path, data_dir, _signal_at_epoch_2(signal.SIGUSR1), expect=INTERRUPTED, env=env)
    assert calls.read_text().split() == ["requeue", "4242"]
    run = tmp_path / "run"
    assert (run / "hpc_ckpt_1.ckpt").is_file()  # Lightning's own save on the requeue signal
    assert _last(run)["global_step"] == 3 + 2  # serlab's, on the SIGTERM that followed
