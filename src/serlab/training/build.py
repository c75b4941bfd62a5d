"""Building the datamodule and the LightningModule from a composed config."""

from __future__ import annotations

from collections.abc import Callable

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig
from torch import nn
from torch.optim import Optimizer

from serlab.config_check import ConfigError, check_targets
from serlab.configs import plain
from serlab.data.datamodule import SERDataModule
from serlab.training.module import SERModule

# Keys a data option uses to say where its corpus lives; the corpus reads them by interpolation.
LOCATION_KEYS = ("root", "path", "roots")


def data_node(cfg: DictConfig) -> dict:
    """`cfg.data` as plain values, without the location keys (a missing `data.root` fails here)."""
    node = plain(cfg.data, throw_on_missing=True)
    for key in LOCATION_KEYS:
        node.pop(key, None)
    return node


def check_config(cfg: DictConfig) -> None:
    """Refuse unknown keys and wrongly typed values anywhere in `cfg` before anything is built or read."""
    node = plain(cfg, throw_on_missing=True)
    if "data" in node:
        node["data"] = data_node(cfg)
    check_targets(node)


def build_datamodule(cfg: DictConfig) -> SERDataModule:
    """Instantiate `cfg.data`; its constructors check their values, and no data is read yet."""
    return instantiate(data_node(cfg), _recursive_=True, _convert_="all")


def check_pairing(cfg: DictConfig, frontend: nn.Module, loss: nn.Module) -> None:
    """Refuse a frontend, model and loss that do not fit together, saying why."""
    model_cls = get_class(cfg.model._target_)
    accepts = getattr(model_cls, "accepts", ("spectral",))
    kind = getattr(frontend, "kind", "spectral")
    if kind not in accepts:
        raise ConfigError(
            f"model={model_cls.__name__} reads {' or '.join(accepts)} features, but frontend="
            f"{type(frontend).__name__} gives {kind} ones: choose "
            + ("frontend=raw" if "waveform" in accepts else "frontend=logmel, spectrogram or mfcc")
        )
    if loss.frame_level and not getattr(model_cls, "frame_scores", False):
        raise ConfigError(
            f"loss={type(loss).__name__} scores frames, but model={model_cls.__name__} has no frame-level head"
        )
    reads = getattr(model_cls, "reads_functionals", False)
    chosen = cfg.get("data") is not None and cfg.data.get("functionals") is not None
    if reads and not chosen:
        raise ConfigError(
            f"model={model_cls.__name__} joins openSMILE functionals with the frames: "
            "add data/functionals=compare or egemaps"
        )
    if chosen and not reads:
        raise ConfigError(
            f"data.functionals is set, but model={model_cls.__name__} does not read functionals: "
            "drop it or use model=fusion"
        )


def check_optimizer(node: DictConfig, optimizer: Callable[..., Optimizer], model: nn.Module) -> None:
    """Build the optimizer once now, so that a setting it refuses (lr=-1) fails before fitting starts."""
    try:
        optimizer(params=model.parameters())
    except (ValueError, TypeError) as err:
        settings = ", ".join(f"{k!s}={v}" for k, v in node.items() if not str(k).startswith("_"))
        raise ConfigError(f"optimizer: {node._target_} refuses {settings}: {err}") from err


def build_module(cfg: DictConfig, classes: list[str]) -> SERModule:
    """Instantiate frontend, model, loss, regularizers and optimizer into one SERModule."""
    frontend = instantiate(cfg.frontend)
    loss = instantiate(cfg.loss)
    check_pairing(cfg, frontend, loss)
    # The model learns its input size from the frontend and its output size from the loss,
    # so models never name a frontend or a loss.
    sizes = {"n_features": frontend.out_features, "n_classes": loss.n_outputs(len(classes))}
    if loss.frame_level:
        sizes["frame_level"] = True
    if getattr(get_class(cfg.model._target_), "reads_functionals", False):
        # building the extractor only reads the feature set's names (no audio yet)
        sizes["n_functionals"] = instantiate(cfg.data.functionals).size
    model = instantiate(cfg.model)(**sizes)
    optimizer = instantiate(cfg.optimizer)
    check_optimizer(cfg.optimizer, optimizer, model)
    return SERModule(
        frontend=frontend,
        model=model,
        loss=loss,
        optimizer=optimizer,
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        regularizers={name: instantiate(node) for name, node in (cfg.get("regularizer") or {}).items()},
        classes=classes,
        monitor=cfg.get("monitor", "val/uar"),
        run_config=plain(cfg),
    )


def instantiate_each(group: DictConfig | None) -> list:
    """Instantiate every entry of a name -> config mapping (loggers, callbacks)."""
    headless = [name for name, node in (group or {}).items() if node is not None and "_target_" not in node]
    if group is not None and headless:
        # e.g. an experiment sets callbacks.early_stopping.patience while callbacks=none removed the callback
        raise ConfigError(f"{group._key()!s}.{headless[0]!s} has settings but no _target_: its option was not selected")
    return [instantiate(node) for node in (group or {}).values() if node is not None]
