"""The scene manifest: one row per scene or file a dataset found, with its status.

Written by the download checkpoint; downstream rules expand their jobs from the rows
whose status is ``ok``. Other statuses say why a scene is left out: ``skipped`` (by
choice: outside the period or the AOI, a duplicate, offline) or ``failed`` (it could not
be fetched or read; the reason says why). A manifest from an earlier run can be given
back as a frozen source (:func:`read_entries`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd

from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError
from eotrend.sentinel3.layout import product_baseline

STATUSES = ("ok", "skipped", "failed")


@dataclass(frozen=True)
class Entry:
    """One manifest row.

    Times are ISO 8601 UTC. ``size`` is the product's size on disk in bytes (the folder's
    files, or the file), or for a product not on disk the size its source lists (the
    catalogue's zip size); ``checksum`` the MD5 of the product as its source publishes it
    (the catalogue's zip MD5 for cdse; "" when unknown); ``source_id`` the source's
    identifier (the catalogue Id for cdse); ``path`` where the product is ("" when it is
    not there, e.g. failed). ``baseline`` is the processing baseline collection, taken
    from the product name (its last three digits, e.g. ``004`` for Collection 4; "" for
    names that are not Sentinel-3 OLCI product names, such as the files of a GeoTIFF
    series): always derived, never given, so it cannot disagree with the name.
    ``fetch`` is how the cdse source fetched the product (``zip``, ``files``,
    ``s3_files``, ``s3_windows``; "" for the other sources), ``files`` the product files
    the scene's stages read with their sizes (``name=bytes`` joined by ``;``; "" for a
    whole product) and ``fetched_bytes`` the bytes fetching them cost (the zip; the
    files; for ``s3_windows`` the manifest: what each scene then reads from the object
    store is in its batch table, ``remote_bytes``), whenever they were fetched.
    ``features`` names the AOI features the product's footprint reaches (ids joined by
    ``;``; "" when unknown: no footprint, or a GeoTIFF series), so a study of many lakes
    can tell which scenes see which lake.
    """

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
    fetch: str = ""
    files: str = ""
    fetched_bytes: int = 0
    features: str = ""
    baseline: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline", product_baseline(self.name))


COLUMNS = [f.name for f in fields(Entry)]
GIVEN = [f.name for f in fields(Entry) if f.init]
"""The columns an entry is made from; the others are derived (``baseline``): a manifest
of an earlier run without them is read as well."""
OPTIONAL = ("fetch", "files", "fetched_bytes", "features")
"""Given columns that manifests written before they existed lack (read as their defaults)."""
INTEGERS = ("size", "fetched_bytes")


def write_manifest(path: str | Path, entries: list[Entry]) -> None:
    """Write the manifest CSV atomically, rows in sensing order."""
    table = pd.DataFrame([asdict(e) for e in entries], columns=COLUMNS)
    table = table.sort_values(["sensing_start", "name"], kind="stable")
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest as a DataFrame with the :data:`COLUMNS` (text columns kept as text)."""
    text = {c: str for c in COLUMNS if c not in INTEGERS}
    return pd.read_csv(path, dtype=text, keep_default_na=False)


def read_entries(path: str | Path) -> list[Entry]:
    """The rows of a manifest written by an earlier run, as entries (a frozen source).

    Manifests written before the ``baseline`` column existed are read too (it is derived
    from the names).

    Raises:
        InputError: the file is missing or unreadable, lacks a column, or has a row with an
            unknown status, a non-integer size or a duplicate name.
    """
    path = Path(path)
    hint = "Give a manifest.csv written by an earlier eotrend run (results/<dataset>/)."
    if not path.is_file():
        raise InputError(path, "does not exist", hint)
    try:
        table = read_manifest(path)
    except (ValueError, pd.errors.ParserError) as error:
        raise InputError(path, f"cannot be read as a manifest ({error})", hint) from error
    missing = [c for c in GIVEN if c not in table.columns and c not in OPTIONAL]
    if missing:
        raise InputError(path, f"lacks the column(s) {', '.join(missing)}", hint)
    entries = []
    given = [c for c in GIVEN if c in table.columns]
    for line, row in enumerate(table[given].to_dict("records"), start=2):
        if row["status"] not in STATUSES:
            raise InputError(
                path, f"line {line}: unknown status {row['status']!r}", f"Use {STATUSES}."
            )
        for column in (c for c in INTEGERS if c in row):
            try:
                row[column] = int(row[column])
            except (TypeError, ValueError):
                raise InputError(
                    path, f"line {line}: {column} {row[column]!r} is not an integer", hint
                ) from None
        entries.append(Entry(**row))
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(path, f"lists {duplicates[0]} more than once", hint)
    return entries


def folder_size(path: Path) -> int:
    """Total size in bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
