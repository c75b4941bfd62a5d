"""Energy and carbon of training: codecarbon's offline tracker around `fit`, reported to every logger and run folder.

Where the CPU's RAPL counters are readable (Linux, /sys/class/powercap) and NVIDIA GPUs answer NVML, codecarbon
measures; elsewhere it estimates the CPU's power from its load and a power model, which the record says in words
(`sources`). CO2e = energy x the grid's carbon intensity: a fixed figure (`grid_intensity`, g CO2e/kWh) or the
mix of `country` from codecarbon's bundled tables; nothing is fetched.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch

from serlab.config_check import ConfigError

if TYPE_CHECKING:
    from codecarbon import OfflineEmissionsTracker

log = logging.getLogger(__name__)

RAPL = Path("/sys/class/powercap/intel-rapl/subsystem")
FILE = "energy.json"


@dataclass(frozen=True)
class EnergyRecord:
    """What one phase consumed (summed over the machines of a multi-node run)."""

    phase: str
    kwh: float
    co2e_g: float
    seconds: float
    cpu_kwh: float
    gpu_kwh: float
    ram_kwh: float
    grid_g_per_kwh: float
    sources: dict[str, str]

    def metrics(self) -> dict[str, float]:
        """The figures each logger receives, under `energy/`."""
        return {
            f"energy/{self.phase}_kwh": self.kwh,
            f"energy/{self.phase}_co2e_g": self.co2e_g,
            f"energy/{self.phase}_s": self.seconds,
        }


def rapl_readable(root: Path = RAPL) -> bool:
    """Whether a RAPL energy counter can be read (often root only), i.e. whether CPU energy is measured."""
    return any(os.access(counter, os.R_OK) for counter in root.glob("intel-rapl:*/energy_uj"))


def power_sources(gpus: int, rapl: bool) -> dict[str, str]:
    """In words, how each part's energy was obtained: measured or estimated."""
    return {
        "cpu": "measured (RAPL)" if rapl else "estimated: CPU load x a per-thread power model (codecarbon)",
        "gpu": "measured (NVML)" if gpus else "no GPU",
        "ram": "estimated from installed memory (codecarbon)",
    }


class EnergyMeter(L.Callback):
    """Tracks the energy of `fit` on the first process of each machine, then logs `energy/train_kwh`,
    `energy/train_co2e_g` and `energy/train_s` to every logger and writes `energy.json` into the run folder.

    `tracking_mode=process` counts this training's processes only (figures hold on a shared machine);
    `machine` counts everything running on it. `interval_s` is how often power is sampled.
    """

    def __init__(
        self,
        country: str = "DEU",
        grid_intensity: float | None = None,
        tracking_mode: str = "process",
        interval_s: float = 5.0,
    ) -> None:
        if tracking_mode not in {"process", "machine"}:
            raise ConfigError(f"callbacks.energy.tracking_mode: {tracking_mode!r} is neither process nor machine")
        if grid_intensity is not None and not grid_intensity > 0:
            raise ConfigError(f"callbacks.energy.grid_intensity: {grid_intensity} is not a positive g CO2e/kWh")
        self.country = country
        self.grid_intensity = grid_intensity
        self.tracking_mode = tracking_mode
        self.interval_s = interval_s
        self.tracker: OfflineEmissionsTracker | None = None
        self.record: EnergyRecord | None = None

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.local_rank != 0:
            return
        # imported here: codecarbon pulls in pandas, which would slow every command's start-up
        from codecarbon import OfflineEmissionsTracker

        # codecarbon installs its own SIGINT/SIGTERM handlers, which would replace the run's preemption handling
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        self.tracker = OfflineEmissionsTracker(
            country_iso_code=self.country,
            force_carbon_intensity_g_co2e_kwh=self.grid_intensity,
            tracking_mode=self.tracking_mode,
            measure_power_secs=self.interval_s,
            save_to_file=False,
            log_level="error",
            project_name="serlab",
        )
        self.tracker.start()
        for sig, handler in handlers.items():
            if handler is not None:  # None: set outside Python, which codecarbon could not have replaced
                signal.signal(sig, handler)

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        totals = torch.zeros(6, dtype=torch.float64)  # kWh, CO2e kg, s, cpu, gpu, ram kWh
        gpus = 0
        if self.tracker is not None:
            self.tracker.stop()
            data = self.tracker.final_emissions_data
            parts = (data.energy_consumed, data.emissions, data.duration, data.cpu_energy, data.gpu_energy)
            totals = torch.tensor([*parts, data.ram_energy], dtype=torch.float64)
            gpus = int(data.gpu_count or 0)
            self.tracker = None
        # every process joins the sum; only the first of each machine contributes
        totals = trainer.strategy.reduce(totals.to(module.device), reduce_op="sum").cpu()
        kwh, co2e_kg, seconds, cpu, gpu, ram = (float(v) for v in totals)
        if trainer.world_size > 1:
            seconds /= trainer.num_nodes  # the machines ran side by side
        self.record = EnergyRecord(
            phase="train",
            kwh=kwh,
            co2e_g=co2e_kg * 1000.0,
            seconds=seconds,
            cpu_kwh=cpu,
            gpu_kwh=gpu,
            ram_kwh=ram,
            grid_g_per_kwh=co2e_kg * 1000.0 / kwh if kwh > 0 else math.nan,
            sources=power_sources(gpus, rapl_readable()),
        )
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(self.record.metrics(), step=trainer.global_step)
            folder = Path(trainer.default_root_dir)
            (folder / FILE).write_text(json.dumps(asdict(self.record), indent=2) + "\n")
            log.info("training energy %.3g kWh, %.3g g CO2e (%s)", kwh, co2e_kg * 1000.0, self.record.sources["cpu"])
