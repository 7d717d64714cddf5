"""Statistics tables (one row per scene, or pass, and feature): a scene's or a batch's
``stats.csv`` and a dataset's time series, ``timeseries.parquet`` (always) and
``timeseries.csv`` (for spreadsheets), read back with the same columns, values and
dtypes from either format.

Columns (:data:`eotrend.sentinel3.extract.SCENE_COLUMNS` first): scene, feature and note
are strings (a feature's id stays a string even when it looks like a number); time is a
UTC timestamp (microseconds, ``datetime64[us, UTC]``); counts (``count``,
``valid_count``, each variable's ``<column>_count``) are whole numbers, pandas' nullable
``Int64`` (empty where a row's statistics are left out); every other column is float64.
In the Parquet file each statistic of a variable carries its unit in its field metadata
(``unit``, as the pixel tables' value columns do; counts and fractions have none).

A CSV holds the same values: floats are written to the shortest text that reads back to
the same float64, times as ISO 8601 with the UTC offset, missing values as empty fields.

pandas is imported where it is used: extract writes a scene's statistics rows with
:func:`write_csv`, without pandas (see :mod:`eotrend.sentinel3.pixel_table`).
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError
from eotrend.sentinel3.layout import count_columns

if TYPE_CHECKING:
    import pandas as pd

STRING_COLUMNS = ("scene", "feature", "note")
"""The string columns of a statistics table."""

TIME_DTYPE = "datetime64[us, UTC]"
"""The dtype of the ``time`` column."""

UNIT_STATISTICS = ("median", "mean", "std", "p25", "p75", "gmean")
"""The statistics of a variable that are in the unit of its values."""


def typed(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the dtypes of the module docstring (strings, UTC time, Int64
    counts); other columns are left as they are."""
    import pandas as pd

    dtypes = {c: "str" for c in STRING_COLUMNS if c in table.columns}
    dtypes.update({c: "Int64" for c in count_columns(table.columns)})
    table = table.astype(dtypes)
    if "time" in table.columns:
        table["time"] = pd.to_datetime(table["time"], utc=True, format="ISO8601").astype(TIME_DTYPE)
    return table


def statistic_units(columns: list[str], units: dict[str, str]) -> dict[str, str]:
    """Column -> unit of each statistic among ``columns`` that is in the unit of its
    variable's values (:data:`UNIT_STATISTICS` of a value column ``<column>_<statistic>``);
    ``units``: value column -> unit (a pixel table's description)."""
    found = {}
    for name in columns:
        for column, unit in units.items():
            if name.startswith(f"{column}_") and name[len(column) + 1 :] in UNIT_STATISTICS:
                found[name] = unit
    return found


def write_statistics(table: pd.DataFrame, path: str | Path, units: dict | None = None) -> None:
    """Write a statistics table (atomically): Parquet when ``path`` ends in ``.parquet``,
    with ``units`` (column -> unit) in the fields' metadata, else CSV."""
    table = typed(table)
    with atomic_path(path) as tmp:
        if Path(path).suffix != ".parquet":
            table.to_csv(tmp, index=False)
            return
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        fields = [
            f.with_metadata({"unit": units[f.name]}) if units and f.name in units else f
            for f in arrow.schema
        ]
        schema = pa.schema(fields, metadata=arrow.schema.metadata)
        pq.write_table(pa.Table.from_arrays(arrow.columns, schema=schema), tmp)


def write_csv(rows: list[dict], path: str | Path) -> None:
    """Write statistics rows (dicts with the same keys, in column order, as
    :func:`eotrend.sentinel3.extract.statistics_rows` gives them) as CSV (atomically),
    in the text :func:`write_statistics` gives the same table: floats by ``repr`` (the
    shortest text that reads back to the same float64), NaN as empty fields, times as
    ISO 8601 with a space and the UTC offset."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(rows[0] if rows else [])
        writer.writerows([_csv_field(value) for value in row.values()] for row in rows)


def _csv_field(value: object) -> object:
    """One value of :func:`write_csv` as the csv module writes it (None: empty)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


def read_statistics(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A statistics table (Parquet, or CSV by any other suffix) with the dtypes of the
    module docstring; ``columns`` limits the columns read.

    Raises:
        InputError: the file cannot be read, or lacks one of ``columns``.
    """
    import pandas as pd

    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return typed(pd.read_parquet(path, columns=columns))
        # Only an empty field is missing: a feature named "NA" keeps its name.
        header = pd.read_csv(path, nrows=0).columns
        strings = {c: "str" for c in STRING_COLUMNS if c in header}
        table = pd.read_csv(
            path, usecols=columns, dtype=strings, keep_default_na=False, na_values=[""]
        )
    except (OSError, ValueError, pa.ArrowException) as error:
        raise InputError(
            path, f"cannot be read as a statistics table ({error})", "Run the workflow again."
        ) from error
    return typed(table)


def units_of(path: str | Path) -> dict[str, str]:
    """Column -> unit of a Parquet statistics table, from its field metadata alone."""
    schema = pq.read_schema(path)
    return {
        field.name: field.metadata[b"unit"].decode()
        for field in schema
        if field.metadata and b"unit" in field.metadata
    }


def to_csv(table: str | Path, csv: str | Path) -> None:
    """The Parquet statistics table ``table`` written as the CSV ``csv`` (same rows,
    columns and values)."""
    write_statistics(read_statistics(table), csv)
