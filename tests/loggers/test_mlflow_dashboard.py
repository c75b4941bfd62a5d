"""The MLflow dashboard of docs/dashboards.md: a real `mlflow server` on the run root's store shows a run."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import cli_overrides, run_cli

# the server's first start creates its tables; generous, since CI machines are shared
STARTUP_S = 120


def documented_command() -> str:
    """The `mlflow server` command line of docs/dashboards.md."""
    doc = (Path(__file__).parents[2] / "docs" / "dashboards.md").read_text()
    (line,) = [line.strip() for line in doc.splitlines() if line.strip().startswith("mlflow server ")]
    return line


def free_port() -> int:
    """A port nothing listens on right now, on the loopback interface only."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(base: str, endpoint: str, body: dict | None = None) -> dict:
    """One request to MLflow's REST API: GET without a body, POST with one."""
    data = None if body is None else json.dumps(body).encode()
    url = f"{base}/api/2.0/mlflow/{endpoint}"
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_until_up(base: str, server: subprocess.Popen, log: Path) -> None:
    """Poll the server until it answers; fail with its log when it exits or never answers."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            call(base, "experiments/search", {"max_results": 1})
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(1)
    pytest.fail(f"mlflow server did not answer within {STARTUP_S} s:\n{log.read_text()[-4000:]}")


def stop(server: subprocess.Popen) -> None:
    """Stop the server and the workers it started (its own process group)."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.mark.slow
def test_mlflow_server_shows_a_runs_test_metrics_and_figure(tmp_path, data_dir):
    run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), "logger=mlflow", "debug=limit", cwd=tmp_path)
    (folder,) = (tmp_path / "runs" / "debug" / "runs").iterdir()
    uar = json.loads((folder / "metrics.json").read_text())["metrics"]["test/uar"]

    # The command of docs/dashboards.md as a user types it in the launch folder, on a free port.
    port = free_port()
    command = documented_command().replace("--port 5000", f"--port {port}")
    assert f"--host 127.0.0.1 --port {port}" in command
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=tmp_path, env={**os.environ, "PATH": path},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server, log)
        experiment = call(base, "experiments/get-by-name?experiment_name=debug")["experiment"]
        (run,) = call(base, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["test/uar"] == pytest.approx(uar)
        files = call(base, f"artifacts/list?run_id={run['info']['run_id']}&path=test").get("files", [])
        assert "test/confusion_matrix.png" in {f["path"] for f in files}
    finally:
        stop(server)
