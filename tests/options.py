"""The selectable options of a config group, and a small build of one as a user would get it.

Contract tests take their parameters from here, so that adding a YAML file to configs/model or
configs/frontend adds its tests, and no list of models or frontends is kept by hand.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from serlab.config_check import ConfigError
from serlab.configs import CONFIG_DIR
from serlab.training.build import build_datamodule, build_module
from serlab.training.module import SERModule
from tests.conftest import compose_train
from tests.features.pretrained import random_byol_s, tiny_hf_encoder, tiny_whisper

# Settings that make any model train in a second or two; each applies to every model whose YAML has it.
SMALL = {
    "hidden": 16,
    "layers": 1,
    "rnn_layers": 1,
    "d_model": 16,
    "heads": 2,
    "ff": 32,
    "filters": 4,
    "vector_hidden": 8,
    "channels": [4, 8],
}
# The smaller openSMILE set (88 functionals), offered to a model that is refused without functionals.
FUNCTIONALS = "data/streams/functionals=egemaps"


def options(group: str, config_dir: str | Path = CONFIG_DIR) -> list[str]:
    """What `group=<name>` may name: the group folder's *.yaml files, less internal ones (a leading `_`)."""
    return sorted(p.stem for p in Path(config_dir, group).glob("*.yaml") if not p.name.startswith("_"))


# Pretrained frontends read a model folder; contract tests give them small random encoders written once per run.
# Each: the key naming the model, and how to write its small encoder into a folder.
PRETRAINED: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "whisper": ("frontend.model", lambda root: tiny_whisper(root / "whisper")),
    "byol_s": ("frontend.weights", lambda root: random_byol_s(root / "byol_s.pth")),
    "hf_encoder": ("frontend.model", lambda root: tiny_hf_encoder(root / "wav2vec2")),
}

MODELS = options("model")
# the spectral frontends first: a model's contract tests run with the first frontend it accepts
FRONTENDS = sorted(options("frontend"), key=lambda name: name in PRETRAINED)


@functools.cache
def _tiny_encoders() -> Path:
    """A folder for the small encoders of this test run, removed at exit."""
    root = Path(tempfile.mkdtemp(prefix="serlab-encoders-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.cache
def tiny_encoder(frontend: str) -> Path:
    """The small local encoder of pretrained frontend `frontend`, written once per test run."""
    return PRETRAINED[frontend][1](_tiny_encoders())


def frontend_overrides(frontend: str) -> tuple[str, ...]:
    """Overrides a test needs to build `frontend=<frontend>` offline (a small local model for pretrained ones)."""
    return (f"{PRETRAINED[frontend][0]}={tiny_encoder(frontend)}",) if frontend in PRETRAINED else ()


def pretrained_run(frontend: str) -> list[str]:
    """Overrides training a small attentive-pooling model on pretrained frontend `frontend`'s small local encoder."""
    return [f"frontend={frontend}", *frontend_overrides(frontend), "model=attention", *small("attention")]


def embeddings_overrides() -> tuple[str, ...]:
    """The Whisper embeddings stream on the small local Whisper, read by a linear probe (model=vector_head)."""
    stream = ["data/streams/embeddings=whisper", f"data.streams.embeddings.encoder.path={tiny_encoder('whisper')}"]
    return (*stream, "model=vector_head", "model.streams=[embeddings]")


def preset_choice(preset: str, group: str) -> str | None:
    """The option of `group` that configs/experiment/<preset>.yaml overrides, None where it keeps the default."""
    defaults = OmegaConf.load(Path(CONFIG_DIR, "experiment", f"{preset}.yaml")).get("defaults", [])
    chosen = [entry.get(f"override /{group}") for entry in defaults if isinstance(entry, DictConfig)]
    return next(filter(None, chosen), None)


def preset_overrides(preset: str) -> tuple[str, ...]:
    """Overrides a test needs to build `experiment=<preset>` offline: its pretrained frontend's small model."""
    return frontend_overrides(preset_choice(preset, "frontend") or "")


def model_node(model: str) -> DictConfig:
    """configs/model/<model>.yaml merged over the sibling options its defaults list extends (fusion: crnn)."""
    node = OmegaConf.load(Path(CONFIG_DIR, "model", f"{model}.yaml"))
    bases = [entry for entry in node.get("defaults", []) if isinstance(entry, str) and entry != "_self_"]
    merged = OmegaConf.merge(*(model_node(base) for base in bases), node)
    assert isinstance(merged, DictConfig)
    return merged


def small(model: str) -> list[str]:
    """Overrides shrinking model `model` to the SMALL sizes of the settings its YAML has (or inherits)."""
    node = model_node(model)
    overrides = [f"model.{key}={json.dumps(value)}" for key, value in SMALL.items() if key in node]
    if "channels" in node:
        # one pooling size per convolution block
        overrides.append(f"model.pools={json.dumps(OmegaConf.to_container(node.pools)[: len(SMALL['channels'])])}")
    return overrides


def pairings(model: str) -> list[list[str]]:
    """Overrides choosing `model` with each frontend, without and then with functionals."""
    return [
        [f"model={model}", f"frontend={frontend}", *frontend_overrides(frontend), *extra]
        for extra in ([], [FUNCTIONALS])
        for frontend in FRONTENDS
    ]


def build_pairing(tmp_path: Path, data_dir: Path, pairing: list[str], *overrides: str) -> tuple[DictConfig, SERModule]:
    """The composed config and the module serlab-train builds from `pairing` (small) and `overrides`."""
    model = pairing[0].removeprefix("model=")
    cfg = compose_train(tmp_path, data_dir, *pairing, *small(model), *overrides)
    return cfg, build_module(cfg, build_datamodule(cfg).classes)


def build_model(tmp_path: Path, data_dir: Path, model: str, *overrides: str) -> tuple[DictConfig, SERModule]:
    """`model`, small, with the first frontend (and functionals) the builder accepts for it."""
    refusals = []
    for pairing in pairings(model):
        try:
            return build_pairing(tmp_path, data_dir, pairing, *overrides)
        except ConfigError as err:
            refusals.append(str(err))
    raise AssertionError(f"model={model} builds with no frontend:\n" + "\n".join(refusals))
