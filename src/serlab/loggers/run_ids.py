"""The ids of tracked runs (wandb, MLflow), kept in the run folder so that a resumed run continues the same one."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only


def resumed_run_id(id_file: str | Path, resume_from: str | None) -> str | None:
    """The run id an earlier attempt of this run stored in `id_file`, when training resumes; else None.

    A run started over in its folder (no checkpoint to resume from) gets a new tracked run.
    """
    path = Path(id_file)
    if resume_from is None or not path.is_file():
        return None
    return path.read_text().strip() or None


@rank_zero_only
def keep_run_id(id_file: str | Path, run_id: str) -> None:
    """Store `run_id` in `id_file` for a later resumed attempt."""
    path = Path(id_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{run_id}\n")
