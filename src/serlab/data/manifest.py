"""The manifest: one row per utterance, the common currency between corpora and the loader."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Utterance:
    """One labelled recording of one speaker."""

    id: str
    path: Path
    label: str
    speaker: str
    gender: str = ""
    text: str = ""
    duration: float = 0.0


MANIFEST_COLUMNS = tuple(f.name for f in fields(Utterance))


def write_manifest(rows: list[Utterance], path: Path, relative_to: Path | None = None) -> None:
    """Write rows as CSV; paths are stored relative to `relative_to` when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            if relative_to is not None:
                record["path"] = Path(row.path).relative_to(relative_to).as_posix()
            writer.writerow(record)


def read_manifest(path: Path) -> list[Utterance]:
    """Read a manifest CSV written by `write_manifest`; relative paths resolve against its folder."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "path", "label", "speaker"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: manifest lacks the column(s) {sorted(missing)}")
        rows = []
        for record in reader:
            audio = Path(record["path"])
            rows.append(
                Utterance(
                    id=record["id"],
                    path=audio if audio.is_absolute() else path.parent / audio,
                    label=record["label"],
                    speaker=record["speaker"],
                    gender=record.get("gender", ""),
                    text=record.get("text", ""),
                    duration=float(record.get("duration") or 0.0),
                )
            )
    return rows
