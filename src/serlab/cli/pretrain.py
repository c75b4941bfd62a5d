"""serlab-pretrain: BYOL for audio on unlabelled audio, writing an encoder frontend=byol_s loads."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from serlab.config_tree import print_config_tree
from serlab.configs import plain
from serlab.pretraining.byol import load_encoder
from serlab.pretraining.data import (
    PretrainDataError,
    Segments,
    corpus_files,
    decode_files,
    folder_files,
    input_statistics,
    log_mels,
)
from serlab.provenance import provenance
from serlab.records import write_csv
from serlab.training.build import check_config, instantiate_each
from serlab.training.checkpointing import checkpoint_dirs
from serlab.training.run_folder import check_writable

log = logging.getLogger(__name__)
ENCODER_FILE = "encoder.pth"
STATS_FILE = "input_stats.json"


def source_files(cfg: DictConfig) -> list[Path]:
    """The audio files `pretrain.audio` (a folder) or `data=<corpus>` (its scan, some speakers) name."""
    folder, data = cfg.pretrain.audio, cfg.get("data")
    if (folder is None) == (data is None):
        raise PretrainDataError(
            "pretrain.audio: pass either a folder of audio (pretrain.audio=<folder>) or a corpus option "
            "(data=<corpus> data.root=<folder>), not " + ("both" if folder is not None else "neither")
        )
    if folder is not None:
        if cfg.pretrain.speakers is not None or cfg.pretrain.sides is not None:
            raise PretrainDataError("pretrain.speakers / pretrain.sides choose speakers of a corpus: add data=<corpus>")
        return folder_files(Path(folder).expanduser())
    rows = instantiate(data.corpus).scan()
    return corpus_files(rows, cfg.pretrain.speakers, cfg.pretrain.sides, instantiate(data.split), data.fold)


def segment_loader(segments: Segments, batch_size: int) -> DataLoader:
    """Shuffled batches of segments; the last partial batch is dropped (batch norm needs several examples)."""
    if not 2 <= batch_size <= len(segments):
        raise PretrainDataError(
            f"pretrain.batch_size={batch_size}: must be at least 2 and at most the {len(segments)} usable clips"
        )
    return DataLoader(segments, batch_size=batch_size, shuffle=True, drop_last=True)


def pretrain(cfg: DictConfig) -> Path:
    """Pretrain the encoder as `cfg` says; return the path of the encoder's state dict."""
    check_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    check_writable(output_dir)
    files = source_files(cfg)
    decoded = decode_files(files, instantiate(cfg.pretrain.decode), cfg.pretrain.on_bad_file)
    mels = log_mels(decoded.waves)
    mean, std = input_statistics(mels)
    if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # set by Lightning at import, not declared
        write_csv(decoded.skipped, ["path", "reason"], output_dir / "skipped.csv")
        stats = {"mean": mean, "std": std, "files": len(decoded.waves), "skipped": len(decoded.skipped)}
        (output_dir / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
        if cfg.get("print_config"):
            print_config_tree(cfg, save_to=output_dir / "config_tree.log")
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    loader = segment_loader(instantiate(cfg.segments)(mels, mean, std), cfg.pretrain.batch_size)
    module = instantiate(cfg.byol)(encoder=load_encoder(cfg.pretrain.init))
    loggers = instantiate_each(cfg.get("logger"))
    trainer: L.Trainer = instantiate(
        cfg.trainer, logger=loggers or False, callbacks=instantiate_each(cfg.get("callbacks"))
    )
    check_writable(*checkpoint_dirs(trainer))
    for logger in loggers:
        logger.log_hyperparams({**plain(cfg), "clips": len(decoded.waves), **provenance()})
    trainer.fit(module, train_dataloaders=loader, ckpt_path=cfg.get("ckpt_path"))
    encoder = (output_dir / ENCODER_FILE).resolve()
    if trainer.is_global_zero:
        torch.save(module.encoder.state_dict(), encoder)
        skipped = f", {len(decoded.skipped)} unusable file(s) skipped (skipped.csv)" if decoded.skipped else ""
        print(f"\npretrained on {len(decoded.waves)} file(s){skipped}; use the encoder with:")
        print(f"frontend=byol_s frontend.weights={encoder}")
    return encoder


def main(cfg: DictConfig) -> None:
    """The task of serlab-pretrain (serlab.cli.commands.pretrain)."""
    pretrain(cfg)


if __name__ == "__main__":
    from serlab.cli.commands import pretrain as command

    command()
