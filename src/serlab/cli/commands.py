"""The console commands: Hydra composes each command's config, and a user's mistake ends it with one line.

This module imports no part of the training stack. A command imports its task's module only when the task
runs, so printing the config (`--cfg job`), `--help` and shell completion answer without loading torch.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import hydra
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.utils import get_method
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from serlab.configs import CONFIG_DIR, MOVED_KEYS, MOVED_OPTIONS
from serlab.errors import UserError
from serlab.extras import missing_plugin

T = TypeVar("T")

# Set to 1, the full traceback of every error is shown, user errors included.
FULL_ERROR = "HYDRA_FULL_ERROR"
# Where a command keeps the user's own HYDRA_FULL_ERROR while it sets that to 1 for Hydra.
USER_FULL_ERROR = "SERLAB_USER_HYDRA_FULL_ERROR"
# The exit status of a command stopped by a user's mistake (as for a bad argument to any command line tool).
USER_ERROR_STATUS = 2


def one_line(message: str) -> str:
    """Hydra's multi-line composition message as one line: its options joined by commas, its search path left out."""
    head = message.split("\nConfig search path:")[0]
    parts: list[str] = []
    for line in filter(None, (raw.rstrip() for raw in head.splitlines())):
        if line.startswith("\t") and parts:
            parts[-1] += (" " if parts[-1].endswith(":") else ", ") + line.strip()
        else:
            parts.append(line.strip())
    return " ".join(p if p.endswith(".") else f"{p};" for p in parts).rstrip(";")


def moved_message(err: MissingConfigException) -> str | None:
    """Where an option that left its group went (see MOVED_OPTIONS); None for any other missing config."""
    missing = err.missing_cfg_file or ""
    advice = MOVED_OPTIONS.get(missing)
    if advice is None:
        return None
    group, _, option = missing.rpartition("/")
    # Hydra's message opens with the file that chose the option, e.g. "In 'experiment/mine': "
    where = str(err).partition("Could not")[0]
    return f"{where}{group}={option}: {option} is no longer a {group} option; write {advice}"


def moved_key_message(err: ConfigCompositionException) -> str | None:
    """Where a group or key that an override names went (see MOVED_KEYS); None for any other failed override."""
    match = re.match(r"Could not (?:override|append to) '([^']+)'", str(err))
    if match is None:
        return None
    key = match.group(1)
    for old, new in MOVED_KEYS.items():
        if key == old or key.startswith(f"{old}."):
            return f"{key}: {old} is now {new}; write {new}{key.removeprefix(old)}=..."
    return None


def user_message(err: BaseException) -> str | None:
    """The one-line report of a user's mistake; None for anything else, which keeps its traceback."""
    if isinstance(err, InstantiationException) and isinstance(err.__cause__, UserError):
        err = err.__cause__  # a constructor refused a config value
    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, MissingMandatoryValue):
        return f"{err.full_key}: has no value (???); set it on the command line, e.g. {err.full_key}=..."
    if isinstance(err, OverrideParseException):
        return f"{err.override}: {one_line(err.message)}"
    if isinstance(err, MissingConfigException) and (moved := moved_message(err)):
        return moved
    if isinstance(err, ConfigCompositionException) and (moved := moved_key_message(err)):
        return moved
    if isinstance(err, ConfigCompositionException):
        # a command-line override Hydra cannot apply, e.g. an unknown option, or one whose plugin is not installed
        return missing_plugin(str(err)) or one_line(str(err))
    return None


def full_errors_asked() -> bool:
    """Whether the user set HYDRA_FULL_ERROR=1, for every error to show its traceback."""
    return os.environ.get(USER_FULL_ERROR, os.environ.get(FULL_ERROR, "")) == "1"


def reporting_user_errors(command: Callable[..., T]) -> Callable[..., T]:
    """`command`, ending with `error: <message>` on stderr and status 2 on a user's mistake."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return command(*args, **kwargs)
        except Exception as err:
            message = None if full_errors_asked() else user_message(err)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr)
            sys.exit(USER_ERROR_STATUS)

    return run


def passing_hydra_errors(command: Callable[[], T]) -> Callable[[], T]:
    """`command` with Hydra passing its errors on, rather than printing them with its own advice."""

    @functools.wraps(command)
    def run() -> T:
        saved = {name: os.environ.get(name) for name in (FULL_ERROR, USER_FULL_ERROR)}
        # Hydra passes errors on when HYDRA_FULL_ERROR=1; the user's own value is kept for full_errors_asked,
        # also in the processes the command starts (they inherit both).
        os.environ.setdefault(USER_FULL_ERROR, saved[FULL_ERROR] or "")
        os.environ[FULL_ERROR] = "1"
        try:
            return command()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    return run


def hydra_command(config_name: str, task: str) -> Callable[[], Any]:
    """The console command that composes `config_name` and runs `task` (a dotted function path) on it."""

    def run(cfg: DictConfig) -> Any:
        return get_method(task)(cfg)

    # Hydra names the job, and so the run's log file (train.log), after the task function's module.
    run.__module__ = task.rpartition(".")[0]
    main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    # The task reports its own mistakes (Hydra would announce one leaving the job with the job's overrides);
    # the command reports those in composing the config, e.g. an unknown option on the command line.
    return reporting_user_errors(passing_hydra_errors(main(reporting_user_errors(run))))


train = hydra_command("train", "serlab.cli.train.main")
cv = hydra_command("cv", "serlab.cli.cv.main")
evaluate = hydra_command("eval", "serlab.cli.eval.main")
predict = hydra_command("predict", "serlab.cli.predict.main")
export = hydra_command("export", "serlab.cli.export.main")
pretrain = hydra_command("pretrain", "serlab.cli.pretrain.main")
