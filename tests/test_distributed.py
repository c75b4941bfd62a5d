"""A crashed or stalled data-parallel process ends the whole job with an error, within a bounded time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_overrides

REPO = Path(__file__).resolve().parents[1]
LIMIT_S = 120


def run_ddp(tmp_path: Path, data_dir: Path, *overrides: str) -> tuple[int | None, str]:
    """serlab-train on two CPU processes: the launcher's exit code (None: still running after LIMIT_S) and log.

    It starts in the repository root, where it and the process it launches import test callbacks as `tests.…`.
    """
    log = tmp_path / "launcher.log"
    command = [sys.executable, "-m", "serlab.cli.train", *cli_overrides(tmp_path, data_dir), "trainer=ddp_cpu",
               "debug=limit", "trainer.max_epochs=1", *overrides]  # fmt: skip
    with open(log, "w") as out:
        launcher = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = launcher.wait(timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            # The session holds the launcher and the process it started; a stalled one left behind ends here.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launcher.pid, signal.SIGKILL)
    return code, log.read_text()


@pytest.mark.slow
def test_a_crashed_process_fails_the_job(tmp_path, data_dir):
    code, log = run_ddp(
        tmp_path, data_dir, "+callbacks.fail._target_=tests.training.faults.RaiseOnRank", "+callbacks.fail.rank=1"
    )
    assert code is not None, f"still running after {LIMIT_S} s:\n{log[-3000:]}"
    assert code != 0 and "injected failure on rank 1" in log


@pytest.mark.slow
def test_a_stalled_process_fails_the_job_after_the_process_group_timeout(tmp_path, data_dir):
    code, log = run_ddp(
        tmp_path, data_dir, "+callbacks.stall._target_=tests.training.faults.StallOnRank", "+callbacks.stall.rank=1",
        f"+callbacks.stall.seconds={10 * LIMIT_S}", "trainer.strategy.timeout.seconds=20",
    )  # fmt: skip
    assert code is not None, f"still running after {LIMIT_S} s:\n{log[-3000:]}"
    assert code != 0 and "Timed out" in log
