"""Where the Hydra config tree lives, for editable installs and for wheels alike."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

_PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The `configs` folder: inside the package in a wheel, at the repository top in a checkout."""
    for candidate in (_PACKAGE / "configs", _PACKAGE.parents[1] / "configs"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"serlab configs not found next to {_PACKAGE}; reinstall the package")


CONFIG_DIR = str(config_dir())


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


# Run records keep absolute paths, so serlab-eval finds the data from any working directory.
if not OmegaConf.has_resolver("abspath"):
    OmegaConf.register_new_resolver("abspath", _absolute)
