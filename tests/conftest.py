"""Shared fixtures: a tiny synthetic corpus and composed configs that point into tmp folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from serlab.configs import CONFIG_DIR
from serlab.data.corpora.synthetic import SyntheticCorpus

# Small enough to generate in about a second, large enough for 5 speaker folds.
TINY = {"n_speakers": 6, "utterances_per_emotion": 3, "n_sentences": 3}
TINY_OVERRIDES = [f"data.corpus.{k}={v}" for k, v in TINY.items()] + ["data.batch_size=8", "data.eval_batch_size=8"]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the tiny synthetic corpus, generated once per session."""
    root = tmp_path_factory.mktemp("data")
    SyntheticCorpus(root / "synthetic", **TINY).prepare()
    return root


def compose_train(
    tmp_path: Path, data_dir: Path, *overrides: str, config_name: str = "train", tiny: bool | None = None
) -> DictConfig:
    """Compose a config as serlab-train would, with every path inside tmp_path.

    The tiny synthetic corpus is used unless another corpus is chosen (or `tiny=False`).
    """
    synthetic = all(not o.startswith("data=") or o == "data=synthetic" for o in overrides) if tiny is None else tiny
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name=config_name,
            overrides=[
                f"paths.root_dir={tmp_path}",
                f"paths.data_dir={data_dir}",
                f"paths.output_dir={tmp_path / 'run'}",
                "print_config=false",
                *(TINY_OVERRIDES if config_name == "train" and synthetic else ()),
                *overrides,
            ],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def run_cli(
    module: str, *args: str, cwd: Path, timeout: float = 600, expect: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m module args` as a user would, with `env` added to the environment and this
    repository importable (for test-only callbacks); fail the test with its output unless it exits `expect`."""
    root = Path(__file__).parents[1]
    # This checkout's sources come first, so a subprocess runs the code under test whatever is installed.
    paths = [str(root / "src"), str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": os.pathsep.join(paths), **(env or {})}
    env.pop("WANDB_MODE", None)
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != expect:
        pytest.fail(f"{module} {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def cli_overrides(tmp_path: Path, data_dir: Path) -> list[str]:
    """Overrides that point a subprocess run at tmp folders and the tiny corpus."""
    return [f"paths.root_dir={tmp_path}", f"paths.data_dir={data_dir}", "print_config=false", *TINY_OVERRIDES]


def write_tone(path: Path, seconds: float = 0.25, sample_rate: int = 16000, channels: int = 1) -> Path:
    """A short audible tone at `path` (folders created), standing in for a corpus recording."""
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t)
    sf.write(path, np.repeat(wave[:, None], channels, axis=1), sample_rate)
    return path


def write_tree(root: Path, names: list[str]) -> Path:
    """A fixture corpus: one short tone per relative path in `names` (without `.wav`)."""
    for name in names:
        write_tone(root / f"{name}.wav")
    return root


def batch_of(targets: list[int], **aux: list[float]):
    """A Batch carrying only targets and auxiliary targets, for loss tests."""
    import torch

    from serlab.data.collate import Batch

    n = len(targets)
    return Batch(torch.zeros(n, 1), torch.ones(n, dtype=torch.long), torch.tensor(targets), [str(i) for i in range(n)],
                 {k: torch.tensor(v, dtype=torch.float32) for k, v in aux.items()})  # fmt: skip
