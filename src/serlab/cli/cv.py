"""serlab-cv: train every speaker fold of one experiment (for each seed), then report mean ± std over folds."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import Logger, MLFlowLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict

from serlab.cli.train import train
from serlab.config_tree import print_config_tree
from serlab.configs import plain
from serlab.errors import UserError
from serlab.extras import require
from serlab.loggers.images import log_figure
from serlab.records import write_json
from serlab.reports.crossval import HEADLINE, CVSummary, read_fold_run
from serlab.reports.render import write_report
from serlab.training.build import build_datamodule, check_config, instantiate_each

log = logging.getLogger(__name__)

# Keys that may differ when an interrupted CV is continued; everything else must match.
FREE_KEYS = ("paths", "cv", "print_config", "ckpt_path")


def run_folder(cv_dir: Path, fold: int, seed: int) -> Path:
    """Where one fold and seed trains."""
    return cv_dir / f"fold_{fold}" / f"seed_{seed}"


def is_finished(folder: Path) -> bool:
    """A run is finished once it has written its test metrics."""
    return (folder / "metrics.json").is_file()


def plan(cfg: DictConfig) -> list[tuple[int, int]]:
    """(fold, seed) pairs to run: `cv.folds` (all folds of the protocol when null) x `cv.seeds`."""
    datamodule = build_datamodule(cfg)
    datamodule.check()
    folds = cfg.cv.get("folds")
    if folds is None:
        folds = range(datamodule.n_folds())
    seeds = cfg.cv.get("seeds") or [cfg.seed]
    return [(int(fold), int(seed)) for fold in folds for seed in seeds]


def check_continuation(cfg: DictConfig, cv_dir: Path) -> None:
    """Record the experiment on the first launch; refuse to continue a CV folder with another experiment."""
    saved_path = cv_dir / "cv_config.yaml"
    current = {k: v for k, v in plain(cfg).items() if k not in FREE_KEYS}
    if not saved_path.is_file():
        saved_path.write_text(OmegaConf.to_yaml(current))
        return
    saved = plain(OmegaConf.load(saved_path), resolve=False)
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        raise UserError(
            f"{cv_dir} holds a CV of another configuration (differs in: {', '.join(changed)}); "
            "continue it with the same overrides, or start a new folder"
        )


def name_runs(loggers: DictConfig, group: str, name: str, parent_run: str | None = None) -> None:
    """Group a run's dashboard entries under the CV: wandb group and name, MLflow run name and parent."""
    if "wandb" in loggers:
        loggers.wandb.group = loggers.wandb.group or group
        loggers.wandb.name = f"{group}/{name}"
    if "mlflow" in loggers:
        loggers.mlflow.run_name = name
        if parent_run:
            loggers.mlflow.tags = {**(loggers.mlflow.tags or {}), "mlflow.parentRunId": parent_run}


def fold_config(cfg: DictConfig, folder: Path, fold: int, seed: int, group: str, parent_run: str | None) -> DictConfig:
    """The serlab-train config of one fold and seed, its loggers grouped under the CV."""
    run = copy.deepcopy(cfg)
    with open_dict(run):
        del run["cv"]
        run.data.fold, run.seed, run.print_config = fold, seed, False
        run.paths.output_dir = str(folder)
        # An interrupted fold continues from its last epoch instead of starting over.
        last = folder / "checkpoints" / "last.ckpt"
        run.ckpt_path = str(last) if last.is_file() else None
        name_runs(run.get("logger") or OmegaConf.create(), group, f"fold_{fold}/seed_{seed}", parent_run)
    return run


def summary_loggers(cfg: DictConfig, group: str) -> list[Logger]:
    """The experiment's loggers, writing the CV summary into the CV folder (the MLflow parent run)."""
    loggers = copy.deepcopy(cfg.get("logger")) or OmegaConf.create()
    with open_dict(loggers):
        name_runs(loggers, group, group)
    return instantiate_each(loggers)


def config_choices() -> dict[str, str]:
    """The option chosen in each config group (`experiment`, `model`, ...), empty outside a Hydra run."""
    return HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}


def report_title() -> str:
    """The report's title: the experiment preset's name, else the model and data chosen."""
    choices = config_choices()
    name = choices.get("experiment") or f"{choices.get('model', '?')} on {choices.get('data', '?')}"
    return f"Cross-validation: {name}"


def report_notes(cfg: DictConfig, summary: CVSummary) -> list[str]:
    """The facts a reader needs to trust the numbers."""
    choices = config_choices()
    notes = [
        f"experiment: {choices.get('experiment') or 'none'}; data: {choices.get('data', '?')}, "
        f"split: {cfg.data.split._target_.rsplit('.', 1)[-1]}; model: {choices.get('model', '?')}, "
        f"frontend: {choices.get('frontend', '?')}",
        f"folds: {summary.folds}; seeds: {summary.seeds}; {len(summary.runs)} trainings",
        "speaker-independent: each fold's test speakers take no part in training, checkpoint choice or early stopping",
        f"feature normalisation: {cfg.frontend.get('normalize', 'none')}"
        + (" (SPEAKER-ADAPTIVE: uses every test speaker's unlabelled audio statistics; transductive)"
           if cfg.frontend.get("normalize") == "speaker" else ""),
        "pooled = every test prediction of every fold and seed in one confusion matrix",
    ]
    if cfg.get("adaptation"):
        notes.append(
            f"adaptation: {cfg.adaptation._target_.rsplit('.', 1)[-1]} (TRANSDUCTIVE: training read the test "
            "speakers' unlabelled audio, never their labels)"
        )
    energy = summary.energy_kwh()
    if energy is not None:
        sources = {run.energy.sources["cpu"] for run in summary.runs if run.energy}
        trainings = len(summary.runs)
        notes.append(f"training energy, {trainings} trainings: {energy * 1000:.2f} Wh (CPU {', '.join(sources)})")
    teacher = (cfg.get("distill") or {}).get("teacher")
    if teacher is not None:
        notes.append(
            f"distillation from {teacher} (temperature {cfg.distill.temperature}, weight {cfg.distill.weight}): each "
            "fold learned only from teacher runs that never trained or validated on its test speakers (metrics.json)"
        )
    if summary.has_seed_ensemble:
        notes.append("seed ensemble = per fold, the class probabilities of all seeds' models averaged per utterance")
    for name, stream in (cfg.data.get("streams") or {}).items():
        # a stream's settings name what it computes (openSMILE's feature set), else its class does
        what = stream.get("feature_set") or stream._target_.rsplit(".", 1)[-1]
        how = (
            "standardised PER SPEAKER (SPEAKER-ADAPTIVE, transductive)"
            if stream.get("per_speaker")
            else "standardised with training-set statistics"
        )
        notes.append(f"vector stream {name}: {what}, {how}")
    return notes


def cross_validate(cfg: DictConfig) -> CVSummary:
    """Run the unfinished folds of the plan, then write summary.json, report.md and report.html."""
    check_config(cfg)
    cv_dir = Path(cfg.paths.output_dir)
    cv_dir.mkdir(parents=True, exist_ok=True)
    check_continuation(cfg, cv_dir)
    group = f"cv-{cv_dir.name}"
    runs = plan(cfg)
    # after the checks, so that a mistake is not reported below a page of config
    if cfg.get("print_config"):
        print_config_tree(cfg, save_to=cv_dir / "config_tree.log")
    log.info(
        "CV in %s: %d trainings; to continue after an interruption add hydra.run.dir=%s", cv_dir, len(runs), cv_dir
    )
    loggers = summary_loggers(cfg, group)
    parent = next((lg.run_id for lg in loggers if isinstance(lg, MLFlowLogger)), None)
    for fold, seed in runs:
        folder = run_folder(cv_dir, fold, seed)
        if is_finished(folder):
            log.info("fold %d seed %d: finished earlier, kept", fold, seed)
            continue
        log.info("fold %d seed %d: training in %s", fold, seed, folder)
        run_cfg = fold_config(cfg, folder, fold, seed, group, parent)
        # the same record a serlab-train run folder holds, so tools that read run folders read folds too
        (folder / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(run_cfg, folder / ".hydra" / "config.yaml")
        train(run_cfg)

    summary = CVSummary([read_fold_run(run_folder(cv_dir, fold, seed), fold, seed) for fold, seed in runs])
    write_json(summary.as_dict(), cv_dir / "summary.json")
    figures = write_report(summary, cv_dir, report_title(), report_notes(cfg, summary))
    metrics = {f"cv/{k}_{stat}": v for k in HEADLINE for stat, v in zip(("mean", "std"), summary.over_folds(k))}
    if summary.has_seed_ensemble:
        metrics |= {
            f"cv/ensemble_{k}_{stat}": v
            for k in HEADLINE
            for stat, v in zip(("mean", "std"), summary.seed_ensemble_over_folds(k))
        }
    for logger in loggers:
        logger.log_hyperparams(plain(cfg))
        logger.log_metrics(metrics, step=0)
    for name, fig in figures.items():
        log_figure(loggers, f"cv/{name}", fig, 0)
    for logger in loggers:
        logger.finalize("success")
    if any(isinstance(lg, WandbLogger) for lg in loggers):
        require("wandb", "logger=wandb").finish()
    print("\n" + "  ".join(f"{k.upper()} {m:.3f} ± {s:.3f}" for k in HEADLINE for m, s in [summary.over_folds(k)]))
    print(f"report: {cv_dir / 'report.html'}")
    return summary


def main(cfg: DictConfig) -> float:
    """The task of serlab-cv (serlab.cli.commands.cv); returns the mean test UAR over folds."""
    return cross_validate(cfg).over_folds("uar")[0]


if __name__ == "__main__":
    from serlab.cli.commands import cv as command

    command()
