"""serlab-eval: re-test a checkpoint on the test split of the run that produced it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from serlab.config_check import ConfigError
from serlab.records import report, write_csv, write_test_outputs
from serlab.training.build import build_datamodule, build_module, check_config, instantiate_each
from serlab.training.checkpointing import load_run
from serlab.training.figures import bar_figure

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Rebuild the run from its checkpoint, test it, write metrics.json and predictions.csv."""
    check_config(cfg)
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    state, run_cfg, classes = load_run(ckpt_path)
    # `data.*` given to serlab-eval (e.g. +data.fold=1) override the run's own data config.
    run_cfg.data = OmegaConf.merge(run_cfg.data, cfg.get("data") or {})
    check_config(run_cfg)
    datamodule = build_datamodule(run_cfg)
    if datamodule.classes != classes:
        raise ConfigError(f"data.label_map gives classes {datamodule.classes}, the checkpoint was trained on {classes}")
    module = build_module(run_cfg, classes)
    module.load_state_dict(state["state_dict"])
    trainer = instantiate(cfg.trainer, logger=instantiate_each(cfg.get("logger")) or False, callbacks=[])
    trainer.test(module, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    output_dir = Path(cfg.paths.output_dir)
    if trainer.is_global_zero:
        write_test_outputs(module, metrics, output_dir, checkpoint=str(ckpt_path), fold=datamodule.fold)
        report(metrics, output_dir)
    degraded = instantiate(cfg.robustness, sample_rate=datamodule.sample_rate) if cfg.get("robustness") else []
    if degraded:
        rows = [{"condition": "clean", **headline(metrics)}]
        for condition in degraded:
            # the test split is decoded again through the condition, and its vector streams computed from that
            datamodule.degrade_test(condition)
            trainer.test(module, datamodule=datamodule, verbose=False)
            rows.append({"condition": condition.name, **headline(trainer.callback_metrics)})
        datamodule.degrade_test(None)
        if trainer.is_global_zero:
            write_robustness(rows, len(classes), output_dir)
    return metrics


def headline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Test UAR, WAR and macro-F1 as plain floats."""
    return {k: float(metrics[f"test/{k}"]) for k in ("uar", "war", "f1")}


def write_robustness(rows: list[dict[str, Any]], n_classes: int, output_dir: Path) -> None:
    """robustness.csv and .png (UAR per condition, chance dashed) and the table on screen."""
    write_csv(rows, ["condition", "uar", "war", "f1"], output_dir / "robustness.csv")
    fig = bar_figure({r["condition"]: r["uar"] for r in rows}, "UAR under degraded audio", "test UAR", 1 / n_classes)
    fig.savefig(output_dir / "robustness.png", dpi=110)
    print(f"\n{'condition':<20} {'UAR':>6} {'WAR':>6} {'F1':>6}")
    for r in rows:
        print(f"{r['condition']:<20} {r['uar']:>6.3f} {r['war']:>6.3f} {r['f1']:>6.3f}")


def main(cfg: DictConfig) -> None:
    """The task of serlab-eval (serlab.cli.commands.evaluate)."""
    evaluate(cfg)


if __name__ == "__main__":
    from serlab.cli.commands import evaluate as command

    command()
