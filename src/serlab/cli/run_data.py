"""A trained run's own data, read again after training: its training clips (what serlab-export calibrates static
int8 forms on) and its test split (what it scores every exported form on)."""

from __future__ import annotations

import random
from pathlib import Path

from serlab.config_check import ConfigError
from serlab.data.datamodule import SERDataModule
from serlab.data.dataset import AudioDataset
from serlab.training.build import build_datamodule, check_config
from serlab.training.checkpointing import load_run


def run_datamodule(ckpt_path: Path) -> SERDataModule:
    """The run's own data (its corpus, label map, split protocol and fold) as its config gives it, split by
    speaker as it was in training; no audio is read yet."""
    _, run_cfg, classes = load_run(ckpt_path)
    check_config(run_cfg)
    datamodule = build_datamodule(run_cfg)
    datamodule.check()
    if datamodule.classes != classes:
        raise ConfigError(f"data.label_map gives classes {datamodule.classes}, {ckpt_path} was trained on {classes}")
    return datamodule


def training_clips(datamodule: SERDataModule, count: int, seed: int = 0) -> AudioDataset:
    """`count` of the run's training utterances (all of them when it has fewer), drawn with `seed`, decoded whole:
    what static quantisation measures activation ranges on. Validation and test speakers are never read."""
    split = datamodule.speaker_split
    assert split is not None  # run_datamodule cut it
    rows = [r for r in datamodule.rows if r.speaker in split.train]
    chosen = sorted(random.Random(seed).sample(rows, min(count, len(rows))), key=lambda r: r.id)
    return AudioDataset(chosen, datamodule.classes, datamodule.cache.load, datamodule.on_bad_file)
