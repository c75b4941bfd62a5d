"""Building the datamodule and the LightningModule from a composed config."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from serlab.data.datamodule import SERDataModule
from serlab.training.module import SERModule


# Keys a data option uses to say where its corpus lives; the corpus reads them by interpolation.
LOCATION_KEYS = ("root", "path", "roots")


def build_datamodule(cfg: DictConfig) -> SERDataModule:
    """Instantiate `cfg.data` (a missing `data.root` fails here, before any data is read)."""
    node = OmegaConf.to_container(cfg.data, resolve=True, throw_on_missing=True)
    for key in LOCATION_KEYS:
        node.pop(key, None)
    return instantiate(node, _recursive_=True, _convert_="all")


def build_module(cfg: DictConfig, classes: list[str]) -> SERModule:
    """Instantiate frontend, model, loss, regularizers and optimizer into one SERModule."""
    frontend = instantiate(cfg.frontend)
    # The model learns its input size from the frontend, so models never name a frontend.
    model = instantiate(cfg.model)(n_features=frontend.out_features, n_classes=len(classes))
    return SERModule(
        frontend=frontend,
        model=model,
        loss=instantiate(cfg.loss),
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        regularizers={name: instantiate(node) for name, node in (cfg.get("regularizer") or {}).items()},
        classes=classes,
        monitor=cfg.get("monitor", "val/uar"),
        run_config=OmegaConf.to_container(cfg, resolve=True),
    )


def instantiate_each(group: DictConfig | None) -> list:
    """Instantiate every entry of a name -> config mapping (loggers, callbacks)."""
    return [instantiate(node) for node in (group or {}).values() if node is not None]
