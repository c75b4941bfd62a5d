"""Energy and CO2e of training: the sources named honestly, a real run's figures positive, finite and logged."""

import csv
import json
import math

import pytest

from serlab.config_check import ConfigError
from serlab.training.energy import EnergyMeter, EnergyRecord, power_sources, rapl_readable
from tests.conftest import cli_overrides, run_cli


def test_cpu_energy_counts_as_measured_only_where_a_rapl_counter_is_readable(tmp_path):
    assert not rapl_readable(tmp_path)
    package = tmp_path / "intel-rapl:0"
    package.mkdir()
    (package / "energy_uj").write_text("123\n")
    assert rapl_readable(tmp_path)
    assert power_sources(gpus=0, rapl=True)["cpu"] == "measured (RAPL)"
    assert power_sources(gpus=0, rapl=False)["cpu"].startswith("estimated")
    assert power_sources(gpus=2, rapl=False)["gpu"] == "measured (NVML)"


@pytest.mark.parametrize(
    ("options", "key"), [({"tracking_mode": "node"}, "tracking_mode"), ({"grid_intensity": 0.0}, "grid_intensity")]
)
def test_bad_options_are_refused_naming_the_key(options, key):
    with pytest.raises(ConfigError, match=f"callbacks.energy.{key}"):
        EnergyMeter(**options)


def test_a_record_logs_its_figures_under_the_phase():
    record = EnergyRecord("train", 0.5, 100.0, 60.0, 0.3, 0.1, 0.1, 200.0, {})
    assert record.metrics() == {"energy/train_kwh": 0.5, "energy/train_co2e_g": 100.0, "energy/train_s": 60.0}


def test_training_writes_positive_finite_energy_to_the_run_folder_metrics_and_logger(tmp_path, data_dir):
    out = tmp_path / "run"
    run_cli(
        "serlab.cli.train", *cli_overrides(tmp_path, data_dir), "trainer.max_epochs=2", "callbacks=[default,energy]",
        "callbacks.energy.grid_intensity=250", "callbacks.energy.interval_s=0.5", f"paths.output_dir={out}",
        cwd=tmp_path,
    )  # fmt: skip
    energy = json.loads((out / "energy.json").read_text())
    assert energy == json.loads((out / "metrics.json").read_text())["energy"]
    for key in ("kwh", "co2e_g", "seconds", "cpu_kwh", "ram_kwh"):
        assert math.isfinite(energy[key]) and energy[key] > 0, key
    assert energy["kwh"] == pytest.approx(energy["cpu_kwh"] + energy["gpu_kwh"] + energy["ram_kwh"])
    # CO2e follows the fixed grid intensity given
    assert energy["co2e_g"] == pytest.approx(energy["kwh"] * 250, rel=1e-3)
    assert energy["grid_g_per_kwh"] == pytest.approx(250, rel=1e-3)
    with open(out / "csv" / "metrics.csv", newline="") as f:
        logged = [float(row["energy/train_kwh"]) for row in csv.DictReader(f) if row["energy/train_kwh"]]
    assert logged == [pytest.approx(energy["kwh"])]
