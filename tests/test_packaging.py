"""The config tree is found from a checkout and shipped inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from serlab.configs import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_configs_found_from_the_checkout():
    assert (Path(CONFIG_DIR) / "train.yaml").is_file() and (Path(CONFIG_DIR) / "eval.yaml").is_file()


@pytest.mark.slow
def test_wheel_carries_configs_and_entry_points(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("serlab-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    configs = {n for n in names if n.startswith("serlab/configs/")}
    on_disk = {f"serlab/configs/{p.relative_to(CONFIG_DIR).as_posix()}" for p in Path(CONFIG_DIR).rglob("*.yaml")}
    assert on_disk and on_disk <= configs
    assert "serlab-train = serlab.cli.commands:train" in entry_points
    assert "serlab-eval = serlab.cli.commands:evaluate" in entry_points

    # Installed from the wheel alone and run from an unrelated folder, the app still composes.
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere.mkdir()
    shown = subprocess.run(
        [sys.executable, "-m", "serlab.cli.train", "--cfg", "job", "model=crnn"],
        cwd=elsewhere,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    )
    assert "serlab.models.crnn.CRNN" in shown.stdout
    located = subprocess.run(
        [sys.executable, "-c", "import serlab.configs as c; print(c.CONFIG_DIR)"],
        cwd=elsewhere, env={"PYTHONPATH": str(site)}, check=True, capture_output=True, text=True,
    )
    assert located.stdout.strip() == str(site / "serlab" / "configs")
