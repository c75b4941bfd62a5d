"""Where the Hydra config tree lives (for editable installs and wheels alike) and the resolvers its files use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

_PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The `configs` folder: inside the package in a wheel, at the repository top in a checkout."""
    for candidate in (_PACKAGE / "configs", _PACKAGE.parents[1] / "configs"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"serlab configs not found next to {_PACKAGE}; reinstall the package")


CONFIG_DIR = str(config_dir())

# Options that left their group, as `group/option`, with what to write instead; composing one of them is
# refused with that advice rather than Hydra's list of the group's options.
MOVED_OPTIONS = {
    "regularizer/ema": "callbacks=[default,ema] (its decay: callbacks.ema.decay)",
    "regularizer/early_stopping": "callbacks=default (it has it) or callbacks=[model_checkpoint,early_stopping]",
    "regularizer/grad_clip": "trainer.gradient_clip_val=5.0",
}
# Groups and keys that moved, by their old name: an override naming one is told the new name.
MOVED_KEYS = {
    "data/functionals": "data/streams/functionals",
    "data.functionals": "data.streams.functionals",
    "model.functionals_hidden": "model.vector_hidden",
}


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def claim_dir(path: str) -> str:
    """Create and return `path`, or `path_2`, `path_3`, ... if another run created it first."""
    base = Path(path).expanduser()
    candidate, n = base, 1
    while True:
        try:
            # mkdir of an existing folder fails atomically, also on network file systems: two runs never share one.
            candidate.mkdir(parents=True)
            return str(candidate)
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}_{n}")


# Run records keep absolute paths, so serlab-eval finds the data from any working directory.
if not OmegaConf.has_resolver("abspath"):
    OmegaConf.register_new_resolver("abspath", _absolute)
# Cached per config, so every later look-up (and every job of a multirun) sees the folder first claimed.
if not OmegaConf.has_resolver("claim_dir"):
    OmegaConf.register_new_resolver("claim_dir", claim_dir, use_cache=True)


def plain(node: DictConfig | ListConfig, *, resolve: bool = True, throw_on_missing: bool = False) -> dict[str, Any]:
    """A mapping config as plain dicts and lists, with string keys (as every key of a serlab config is)."""
    container = OmegaConf.to_container(node, resolve=resolve, throw_on_missing=throw_on_missing)
    if not isinstance(container, dict):
        raise TypeError(f"expected a mapping config, got a {type(node).__name__}")
    return {str(k): v for k, v in container.items()}
