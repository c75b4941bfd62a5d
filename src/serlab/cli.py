"""The console commands: Hydra composes each command's config, and a user's mistake ends it with one line.

This module imports no part of the training stack. A command imports its task's module only when the task
runs, so printing the config (`--cfg job`), `--help` and shell completion answer without loading torch.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import hydra
from hydra.errors import ConfigCompositionException, InstantiationException, OverrideParseException
from hydra.utils import get_method
from omegaconf import DictConfig

from serlab.configs import CONFIG_DIR
from serlab.errors import UserError

T = TypeVar("T")

# Set to 1, the full traceback of every error is shown, user errors included.
FULL_ERROR = "HYDRA_FULL_ERROR"
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
    return "; ".join(parts)


def user_message(err: BaseException) -> str | None:
    """The one-line report of a user's mistake; None for anything else, which keeps its traceback."""
    if isinstance(err, InstantiationException) and isinstance(err.__cause__, UserError):
        err = err.__cause__  # a constructor refused a config value
    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, (ConfigCompositionException, OverrideParseException)):
        return one_line(str(err))  # a command-line override Hydra cannot apply, e.g. an unknown option
    return None


def reporting_user_errors(command: Callable[..., T]) -> Callable[..., T]:
    """`command`, ending with `error: <message>` on stderr and status 2 on a user's mistake.

    With HYDRA_FULL_ERROR=1 every error shows its traceback, for debugging.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> T:
        before = os.environ.get(FULL_ERROR)
        # Hydra then passes errors on to here rather than printing them with a traceback itself.
        os.environ[FULL_ERROR] = "1"
        try:
            return command(*args, **kwargs)
        except Exception as err:
            message = None if before == "1" else user_message(err)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr)
            sys.exit(USER_ERROR_STATUS)
        finally:
            if before is None:
                del os.environ[FULL_ERROR]
            else:
                os.environ[FULL_ERROR] = before

    return run


def hydra_command(config_name: str, task: str) -> Callable[[], Any]:
    """The console command that composes `config_name` and runs `task` (a dotted function path) on it."""

    def run(cfg: DictConfig) -> Any:
        return get_method(task)(cfg)

    # Hydra names the job, and so the run's log file (train.log), after the task function's module.
    run.__module__ = task.rpartition(".")[0]
    return reporting_user_errors(hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(run))


train = hydra_command("train", "serlab.train.main")
cv = hydra_command("cv", "serlab.cv.main")
evaluate = hydra_command("eval", "serlab.eval.main")
predict = hydra_command("predict", "serlab.predict.main")
export = hydra_command("export", "serlab.export.main")
