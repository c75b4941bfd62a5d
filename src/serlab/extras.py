"""Optional integrations: each comes with an extra of the serlab package and is imported only where it is chosen.

A core install trains with CSV and TensorBoard logging; `pip install 'serlab[all]'` adds every integration.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from serlab.errors import UserError


@dataclass(frozen=True)
class OptionalPackage:
    """A distribution serlab imports only for the features that need it, and the extra that installs it."""

    distribution: str
    extra: str


# Keyed by the module each is imported as; pyproject.toml's extras list them (tests/test_extras.py checks).
OPTIONAL = {
    "wandb": OptionalPackage("wandb", "wandb"),
    "mlflow": OptionalPackage("mlflow", "mlflow"),
    "onnx": OptionalPackage("onnx", "export"),
    "onnxscript": OptionalPackage("onnxscript", "export"),
    "onnxruntime": OptionalPackage("onnxruntime", "export"),
    "opensmile": OptionalPackage("opensmile", "smile"),
    "hydra_plugins.hydra_optuna_sweeper": OptionalPackage("hydra-optuna-sweeper", "sweeps"),
    "hydra_plugins.hydra_joblib_launcher": OptionalPackage("hydra-joblib-launcher", "sweeps"),
    "hydra_plugins.hydra_submitit_launcher": OptionalPackage("hydra-submitit-launcher", "sweeps"),
}

# Hydra finds sweepers and launchers among the installed plugins: without its plugin, an option of these
# is merely unknown to Hydra. The first option a composition error names is reported (serlab's slurm before
# the submitit_slurm it extends, which is what the user chose).
HYDRA_PLUGIN_OPTIONS = {
    "hydra/sweeper/optuna": "hydra_plugins.hydra_optuna_sweeper",
    "hydra/launcher/joblib": "hydra_plugins.hydra_joblib_launcher",
    "hydra/launcher/slurm": "hydra_plugins.hydra_submitit_launcher",
    "hydra/launcher/submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
    "hydra/launcher/submitit_local": "hydra_plugins.hydra_submitit_launcher",
}


class MissingExtraError(UserError, ImportError):
    """A chosen feature needs a package that is not installed; the message names the extra to install."""


def missing_message(module: str, feature: str) -> str:
    """The one line telling that `feature` needs `module`, and which extra installs it."""
    package = OPTIONAL[module]
    return f"{feature} needs the optional package {package.distribution}: pip install 'serlab[{package.extra}]'"


def require(module: str, feature: str) -> ModuleType:
    """Import `module`, an optional package that `feature` (as the user chose it, e.g. logger=wandb) needs.

    Only the package's own absence is the user's to fix; a package that is installed but fails to import
    keeps its traceback.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or not f"{module}.".startswith(f"{err.name}."):
            raise
        raise MissingExtraError(missing_message(module, feature)) from err


def missing_plugin(message: str) -> str | None:
    """The one-line report for a Hydra composition error `message` that names an option of a missing plugin."""
    for option, module in HYDRA_PLUGIN_OPTIONS.items():
        if f"'{option}'" in message:
            group, _, name = option.rpartition("/")
            try:
                require(module, f"{group}={name}")
            except MissingExtraError as err:
                return str(err)
    return None
