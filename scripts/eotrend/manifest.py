"""The scene manifest: one row per scene or file a dataset found, with its status.

Written by the download checkpoint; downstream rules expand their jobs from the rows
whose status is ``ok``. Other statuses say why a scene is left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from eotrend.atomic import atomic_path


@dataclass(frozen=True)
class Entry:
    """One manifest row. Times are ISO 8601 UTC; size in bytes; checksum MD5 when known."""

    name: str
    sensing_start: str
    sensing_stop: str
    platform: str
    source_id: str
    size: int
    checksum: str
    path: str
    status: str  # ok | skipped | failed
    reason: str = ""


COLUMNS = [f.name for f in fields(Entry)]


def write_manifest(path: str | Path, entries: list[Entry]) -> None:
    """Write the manifest CSV atomically, rows in sensing order."""
    table = pd.DataFrame([asdict(e) for e in entries], columns=COLUMNS)
    table = table.sort_values(["sensing_start", "name"], kind="stable")
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest as a DataFrame with the :data:`COLUMNS` (strings kept as strings)."""
    return pd.read_csv(path, dtype={"checksum": str, "reason": str}, keep_default_na=False)


def folder_size(path: Path) -> int:
    """Total size in bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
