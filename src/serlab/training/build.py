"""Building the datamodule and the LightningModule from a composed config."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig
from torch import nn
from torch.optim import Optimizer

from serlab.adaptation.protocol import input_summary_size
from serlab.config_check import ConfigError, check_targets
from serlab.configs import plain
from serlab.data.datamodule import SERDataModule
from serlab.features.normalize import VectorNorm
from serlab.features.reconstruction import STREAM, Autoencoder
from serlab.interfaces import Adaptation, Frontend, Loss, Model, VectorStream, check_interface
from serlab.training.module import SERModule

if TYPE_CHECKING:
    from serlab.training.distillation import Distillation

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


def check_pairing(frontend: Frontend, model_cls: type[Model], loss: Loss) -> None:
    """Refuse a frontend, model class and loss that do not fit together, saying why; before the model is built,
    since a model may not even build on features it does not understand."""
    name = model_cls.__name__
    undeclared = [member for member in ("accepts", "frame_scores") if member not in dir(model_cls)]
    if undeclared:
        raise ConfigError(
            f"model: {name} does not declare {', '.join(undeclared)} as class attributes (see serlab.interfaces.Model)"
        )
    accepts: tuple[str, ...] = model_cls.accepts
    if frontend.kind not in accepts:
        raise ConfigError(
            f"model={name} reads {' or '.join(accepts)} features, but frontend="
            f"{type(frontend).__name__} gives {frontend.kind} ones: choose "
            + ("frontend=raw" if "waveform" in accepts else "frontend=logmel, spectrogram or mfcc")
        )
    if loss.frame_level and not model_cls.frame_scores:
        raise ConfigError(f"loss={type(loss).__name__} scores frames, but model={name} has no frame-level head")


def check_streams(provided: Mapping[str, object], model: Model, reconstruction: Autoencoder | None = None) -> None:
    """Refuse vector streams the data computes but neither the model nor the autoencoder reads (the model refuses
    missing ones)."""
    read = {*model.reads, *(reconstruction.sources if reconstruction is not None else ())}
    unread = [stream for stream in provided if stream not in read]
    if unread:
        raise ConfigError(
            f"data.streams.{unread[0]} is computed, but model={type(model).__name__} does not read it: "
            "drop that data option or use a model that joins it (model=fusion)"
        )


def build_reconstruction(cfg: DictConfig, shapes: Mapping[str, tuple[int, ...]]) -> Autoencoder | None:
    """Instantiate `cfg.reconstruction` over the vector streams the data provides; None without one."""
    node = cfg.get("reconstruction")
    if node is None:
        if STREAM in (cfg.model.get("streams") or ()):
            raise ConfigError(
                f"model.streams: the {STREAM} stream is the autoencoder's reconstruction error: add "
                "reconstruction=autoencoder"
            )
        return None
    return instantiate(node)(vector_shapes=shapes)


def model_shapes(
    shapes: Mapping[str, tuple[int, ...]], reconstruction: Autoencoder | None
) -> dict[str, tuple[int, ...]]:
    """The streams a model may join: the data's, and the reconstruction error when the run has an autoencoder."""
    return {**shapes, STREAM: reconstruction.shape} if reconstruction is not None else dict(shapes)


def vector_shapes(cfg: DictConfig) -> dict[str, tuple[int, ...]]:
    """The per-utterance shape of each of `data.streams` (building a stream reads no audio)."""
    streams = (cfg.get("data") or {}).get("streams") or {}
    shapes = {}
    for name, node in streams.items():
        stream = instantiate(node)
        check_interface(stream, VectorStream, f"data.streams.{name}")
        shapes[str(name)] = tuple(stream.shape)
    return shapes


def build_model(cfg: DictConfig, sizes: dict[str, Any], shapes: Mapping[str, tuple[int, ...]]) -> Model:
    """Instantiate `cfg.model` with its input and output sizes; a model that joins vector streams
    (one whose constructor takes `vector_shapes`) also gets the shape of every stream the data provides."""
    factory = instantiate(cfg.model)
    if "vector_shapes" in inspect.signature(factory).parameters:
        sizes = {**sizes, "vector_shapes": shapes}
    model = factory(**sizes)
    check_interface(model, Model, "model")
    return model


def check_optimizer(node: DictConfig, optimizer: Callable[..., Optimizer], model: Model) -> None:
    """Build the optimizer once now, so that a setting it refuses (lr=-1) fails before fitting starts."""
    try:
        optimizer(params=model.parameters())
    except (ValueError, TypeError) as err:
        settings = ", ".join(f"{k!s}={v}" for k, v in node.items() if not str(k).startswith("_"))
        raise ConfigError(f"optimizer: {node._target_} refuses {settings}: {err}") from err


def model_sizes(frontend: Frontend, loss: Loss, n_classes: int) -> dict[str, Any]:
    """The sizes a model is built with: its input size from the frontend and its output size from the loss,
    so models never name a frontend or a loss."""
    sizes: dict[str, Any] = {"n_features": frontend.out_features, "n_classes": loss.n_outputs(n_classes)}
    if loss.frame_level:
        sizes["frame_level"] = True
    return sizes


def class_dependent(cfg: DictConfig, module: SERModule) -> set[str]:
    """The names of the module's tensors whose shape follows the number of classes (the output heads), found by
    building `cfg.model` once more for one class more and comparing the shapes."""
    sizes = model_sizes(module.frontend, module.loss, len(module.classes) + 1)
    data = {name: tuple(cast(VectorNorm, norm).mean.shape) for name, norm in module.vector_norms.items()}
    shapes = model_shapes(data, module.reconstruction)
    # the spare model draws its initial weights from a forked generator, so the run's own draws are unchanged
    with torch.random.fork_rng(devices=[]):
        spare = build_model(cfg, sizes, shapes)
    theirs = cast(nn.Module, spare).state_dict()
    ours = cast(nn.Module, module.model).state_dict()
    return {f"model.{name}" for name, tensor in ours.items() if name in theirs and theirs[name].shape != tensor.shape}


def build_adaptation(
    cfg: DictConfig, frontend: Frontend, model: Model, loss: Loss, shapes: Mapping[str, tuple[int, ...]]
) -> Adaptation | None:
    """Instantiate `cfg.adaptation` (none: null) with the sizes its constructor names: the model's embedding
    (`embedding_size`, the head's input) and its standardised input summary (`input_size`)."""
    if not cfg.get("adaptation"):
        return None
    if loss.frame_level:
        raise ConfigError(
            f"adaptation: {cfg.adaptation._target_} works on utterance representations, but loss="
            f"{type(loss).__name__} scores frames: use an utterance-level loss (loss=ce)"
        )
    factory = instantiate(cfg.adaptation)
    sizes = {
        "embedding_size": model.head.in_features,
        "input_size": input_summary_size(frontend.out_features, shapes, model.reads),
    }
    wanted = inspect.signature(factory).parameters
    adaptation = factory(**{name: size for name, size in sizes.items() if name in wanted})
    check_interface(adaptation, Adaptation, "adaptation")
    return adaptation


def build_distillation(cfg: DictConfig, loss: Loss) -> Distillation | None:
    """Instantiate `cfg.distill` when it names a teacher (none: null); its teachers are read when fitting starts."""
    node = cfg.get("distill")
    if node is None or node.get("teacher") is None:
        return None
    if loss.frame_level:
        raise ConfigError(
            f"distill.teacher: distillation matches the student's utterance probabilities, but loss="
            f"{type(loss).__name__} scores frames: use an utterance-level loss (loss=ce)"
        )
    return instantiate(node, _convert_="all")


def build_module(cfg: DictConfig, classes: list[str]) -> SERModule:
    """Instantiate frontend, model, loss, regularizers and optimizer into one SERModule."""
    frontend = instantiate(cfg.frontend)
    check_interface(frontend, Frontend, "frontend")
    loss = instantiate(cfg.loss)
    check_interface(loss, Loss, "loss")
    sizes = model_sizes(frontend, loss, len(classes))
    check_pairing(frontend, get_class(cfg.model._target_), loss)
    shapes = vector_shapes(cfg)
    reconstruction = build_reconstruction(cfg, shapes)
    model = build_model(cfg, sizes, model_shapes(shapes, reconstruction))
    check_streams(shapes, model, reconstruction)
    optimizer = instantiate(cfg.optimizer)
    check_optimizer(cfg.optimizer, optimizer, model)
    return SERModule(
        frontend=frontend,
        model=model,
        loss=loss,
        optimizer=optimizer,
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        regularizers={name: instantiate(node) for name, node in (cfg.get("regularizer") or {}).items()},
        vector_norms={name: VectorNorm(shape) for name, shape in shapes.items()},
        reconstruction=reconstruction,
        classes=classes,
        monitor=cfg.get("monitor", "val/uar"),
        run_config=plain(cfg),
        adaptation=build_adaptation(cfg, frontend, model, loss, shapes),
        distillation=build_distillation(cfg, loss),
    )


def instantiate_each(group: DictConfig | None) -> list:
    """Instantiate every entry of a name -> config mapping (loggers, callbacks)."""
    headless = [name for name, node in (group or {}).items() if node is not None and "_target_" not in node]
    if group is not None and headless:
        # e.g. an experiment sets callbacks.early_stopping.patience while callbacks=none removed the callback
        raise ConfigError(f"{group._key()!s}.{headless[0]!s} has settings but no _target_: its option was not selected")
    return [instantiate(node) for node in (group or {}).values() if node is not None]
