"""serlab-train: compose an experiment, train it, and test its best checkpoint."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from serlab.config_tree import print_config_tree
from serlab.configs import plain
from serlab.data.datamodule import SERDataModule
from serlab.provenance import provenance
from serlab.records import report, write_data_record, write_test_outputs
from serlab.training.build import build_datamodule, build_module, check_config, instantiate_each
from serlab.training.checkpointing import checkpoint_dirs, kept_val_metrics, resumed_checkpoint
from serlab.training.energy import EnergyMeter
from serlab.training.pruning import Pruning
from serlab.training.run_folder import check_not_finished, check_writable
from serlab.training.transfer import freeze, init_from, patterns

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and/or test as `cfg.train` / `cfg.test` say; return the final metrics."""
    check_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    check_writable(output_dir)
    check_not_finished(output_dir, resume=cfg.get("ckpt_path") is not None, overwrite=cfg.get("overwrite", False))
    datamodule = build_datamodule(cfg)
    if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # set by Lightning at import, not declared
        # Before the config is printed, so that a mistake in the data is not reported below a page of config;
        # on rank 0 only, as Lightning prepares the data there alone.
        datamodule.check()
        if cfg.get("print_config"):
            print_config_tree(cfg, save_to=output_dir / "config_tree.log")
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    module = build_module(cfg, datamodule.classes)
    if module.adaptation is not None:
        datamodule.serve_unlabelled()
    loggers = instantiate_each(cfg.get("logger"))
    pruning: Pruning | None = instantiate(cfg.pruning) if cfg.get("pruning") else None
    callbacks = [*instantiate_each(cfg.get("callbacks")), *([pruning] if pruning is not None else [])]
    # quantization-aware training (quantization=qat) hooks into fitting as one more callback
    quantization = [instantiate(cfg.quantization)] if cfg.get("quantization") else []
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[*callbacks, *quantization])
    check_writable(*checkpoint_dirs(trainer))
    # before the optimizer is built (at fit start), which takes only what still trains
    source = init_from(cfg, module, resumed_checkpoint(cfg.get("ckpt_path"), trainer))
    frozen = patterns(cfg, "freeze")
    n_trainable = freeze(module, frozen)
    n_params = sum(p.numel() for p in module.parameters())
    # the init_from record (checkpoint, its sha256 and classes, what was loaded) in place of the path given
    transfer = {"init_from": source} if source else {}
    for logger in loggers:
        logger.log_hyperparams({**plain(cfg), **transfer, "n_params": n_params, "n_trainable": n_trainable,
                                **provenance()})  # fmt: skip

    if cfg.get("train", True):
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if isinstance(checkpoint, ModelCheckpoint) else ""
    if cfg.get("train", True) and best:
        # report (and return to sweepers) the validation scores of the kept model, not of the last epoch
        metrics = {k: v for k, v in metrics.items() if not k.startswith("val/")} | kept_val_metrics(best)

    if cfg.get("test", True):
        if cfg.get("train", True) and not best:
            log.warning("no best checkpoint (checkpointing off): testing the weights of the last epoch")
        trainer.test(module, datamodule=datamodule, ckpt_path=best or None)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        if trainer.is_global_zero:
            write_test_outputs(
                module,
                metrics,
                output_dir,
                checkpoint=best or None,
                n_params=n_params,
                fold=datamodule.fold,
                init_from=module.transfer,
                freeze=frozen,
                n_trainable=n_trainable,
                adaptation=adaptation_record(cfg, datamodule),
                energy=energy_record(trainer),
                # the teacher runs, temperature and weight the student learned with
                distillation=module.distillation.record() if module.distillation is not None else None,
                pruning=pruning.record(module) if pruning is not None else None,
                quantization=quantization_record(cfg),
            )
    if trainer.is_global_zero:
        write_data_record(datamodule, output_dir)
        report(metrics, output_dir)
    return metrics


def adaptation_record(cfg: DictConfig, datamodule: SERDataModule) -> dict[str, Any] | None:
    """What a run with an adaptation read besides its labelled training speakers: the method and the target
    speakers whose audio (never labels) it trained on; None for a run without one."""
    if not cfg.get("adaptation"):
        return None
    unlabelled = datamodule.datasets.get("unlabelled")
    return {
        "method": cfg.adaptation._target_,
        "saw_unlabelled_target_audio": True,
        "target_speakers": sorted({r.speaker for r in unlabelled.rows}) if unlabelled else [],
        "target_utterances": len(unlabelled) if unlabelled else 0,
    }


def energy_record(trainer: L.Trainer) -> dict[str, Any] | None:
    """What training consumed (callbacks/energy); None when the energy callback is off or nothing was fitted."""
    callbacks = trainer.callbacks  # type: ignore[attr-defined]  # set by Lightning, not declared
    records = [c.record for c in callbacks if isinstance(c, EnergyMeter) and c.record]
    return asdict(records[0]) if records else None


def quantization_record(cfg: DictConfig) -> dict[str, Any] | None:
    """How a quantization-aware run trained (its method and settings); None for a run trained in float alone."""
    if not cfg.get("quantization"):
        return None
    settings = {str(k): v for k, v in plain(cfg.quantization).items() if not str(k).startswith("_")}
    return {"method": cfg.quantization._target_, "quantization_aware": True, **settings}


def main(cfg: DictConfig) -> float | None:
    """The task of serlab-train (serlab.cli.commands.train); returns the optimized metric for Hydra sweepers."""
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


if __name__ == "__main__":
    from serlab.cli.commands import train as command

    command()
