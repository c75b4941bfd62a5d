"""A wandb logger that goes offline by itself when no server or account is reachable."""

from __future__ import annotations

import logging
import netrc
import os
import socket
import uuid
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger

from serlab.extras import require
from serlab.loggers.run_ids import keep_run_id, resumed_run_id

log = logging.getLogger(__name__)


def _has_credentials(host: str) -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def _reachable(url: str, timeout: float) -> bool:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(requested: str | None, timeout: float = 2.0) -> str:
    """'online' only with credentials and a reachable server; an explicit choice always wins."""
    explicit = requested or os.environ.get("WANDB_MODE")
    if explicit:
        return explicit
    url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    if _has_credentials(urlparse(url).hostname or "") and _reachable(url, timeout):
        return "online"
    return "offline"


def wandb_logger(
    save_dir: str,
    id_file: str,
    resume_from: str | None = None,
    mode: str | None = None,
    server_timeout: float = 2.0,
    **kwargs,
) -> WandbLogger:
    """Build a WandbLogger, falling back to offline mode with a hint on how to sync later.

    The run id is kept in `id_file`; a run resuming from a checkpoint (`resume_from`) continues that wandb run.
    """
    require("wandb", "logger=wandb")  # before Lightning's logger, whose own check ends in a traceback
    os.makedirs(save_dir, exist_ok=True)
    run_id = resumed_run_id(id_file, resume_from) or uuid.uuid4().hex[:8]
    keep_run_id(id_file, run_id)
    chosen = resolve_mode(mode, server_timeout)
    if chosen == "offline":
        log.warning(
            "wandb: no account or server reachable, logging offline under %s/wandb; "
            "upload later with `wandb sync %s/wandb/offline-run-*`",
            save_dir,
            save_dir,
        )
    logger = WandbLogger(save_dir=save_dir, mode=chosen, id=run_id, **kwargs)
    # Lightning always passes `anonymous`, which wandb now ignores with a warning on every run
    logger._wandb_init.pop("anonymous", None)
    return logger
