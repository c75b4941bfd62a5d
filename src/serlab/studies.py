"""Where Optuna studies are kept between launches of a sweep."""

from __future__ import annotations

from pathlib import Path


def sqlite_storage(path: str) -> str:
    """The SQLAlchemy URL of an Optuna study database at `path`, its folder created (sqlite will not)."""
    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"
