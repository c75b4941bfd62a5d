"""The manifest: one row per utterance, the common currency between corpora and the loader."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from serlab.errors import UserError


@dataclass(frozen=True)
class Utterance:
    """One labelled recording of one speaker; `extra` holds corpus-specific columns."""

    id: str
    path: Path
    label: str
    speaker: str
    gender: str = ""
    text: str = ""
    duration: float = 0.0
    session: str = ""
    corpus: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


MANIFEST_COLUMNS = tuple(f.name for f in fields(Utterance) if f.name != "extra")
REQUIRED_COLUMNS = ("path", "label", "speaker")


class ManifestError(UserError, ValueError):
    """A manifest file that is missing or cannot be read as path,label,speaker rows."""


def write_manifest(rows: list[Utterance], path: Path, relative_to: Path | None = None) -> None:
    """Write rows as CSV (extra columns after the standard ones); paths relative to `relative_to`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra_columns = list(dict.fromkeys(k for row in rows for k in row.extra))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*MANIFEST_COLUMNS, *extra_columns])
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            record.update(record.pop("extra"))
            if relative_to is not None:
                record["path"] = Path(row.path).relative_to(relative_to).as_posix()
            writer.writerow(record)


def row_from_record(record: dict[str, str], base: Path, where: str) -> Utterance:
    """One manifest row from a CSV record; a relative path resolves against `base`."""
    empty = [c for c in REQUIRED_COLUMNS if not (record.get(c) or "").strip()]
    if empty:
        raise ManifestError(f"{where}: empty {', '.join(empty)}")
    audio = Path(record["path"].strip())
    try:
        duration = float(record.get("duration") or 0.0)
    except ValueError as err:
        raise ManifestError(f"{where}: duration {record['duration']!r} is not a number") from err
    known = set(MANIFEST_COLUMNS)
    return Utterance(
        id=(record.get("id") or "").strip() or audio.with_suffix("").as_posix(),
        path=audio if audio.is_absolute() else base / audio,
        label=record["label"].strip(),
        speaker=record["speaker"].strip(),
        gender=record.get("gender") or "",
        text=record.get("text") or "",
        duration=duration,
        session=record.get("session") or "",
        corpus=record.get("corpus") or "",
        extra={k: v for k, v in record.items() if k not in known and k is not None and v is not None},
    )


def read_manifest(path: Path, delimiter: str | None = None) -> list[Utterance]:
    """Read a CSV/TSV manifest with at least path, label, speaker; other columns go to `extra`."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    header = [c.strip() for c in reader.fieldnames or ()]
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(f"{path}: manifest lacks the column(s) {missing}; it has {header}")
    rows = [row_from_record(record, path.parent, f"{path} line {n}") for n, record in enumerate(reader, start=2)]
    twice = sorted(i for i, n in Counter(r.id for r in rows).items() if n > 1)[:5]
    if twice:
        raise ManifestError(f"{path}: utterance ids must be unique; repeated: {twice}")
    return rows
