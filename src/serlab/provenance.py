"""What produced a run: the code's git commit and the versions that matter for reproducing it."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def git_commit(where: Path) -> str | None:
    """The commit checked out at `where`, with `+dirty` for uncommitted changes; None outside a checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty else "")


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


@cache
def provenance() -> dict[str, str | None]:
    """serlab's git commit (None when installed from a wheel) and the serlab, torch and lightning versions."""
    return {
        "git_commit": git_commit(Path(__file__).resolve().parent),
        **{f"{name}_version": _version(name) for name in ("serlab", "torch", "lightning")},
    }
