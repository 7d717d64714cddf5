"""One scene's pixel table: numpy columns in memory, Arrow (Parquet) on disk, pandas for
analysis.

Why numpy columns, not a DataFrame or an Arrow table: pyarrow imports pandas the first
time an Arrow array meets numpy (its pandas shim: ``pyarrow.array``,
``Array.to_numpy``), and that import is a tenth of a one-scene extract command
(bench/lakes_bench.py, 300 lakes). :meth:`PixelTable.to_arrow` builds the Arrow arrays
from the numpy buffers with :meth:`pyarrow.Array.from_buffers` (numbers without a copy,
booleans bit-packed, strings as UTF-8 with int32 offsets: Arrow's columnar format), which
does not import pandas; :meth:`PixelTable.to_pandas` is the table as pandas reads the
Parquet file back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class PixelTable:
    """The pixels of one scene inside its features (one row per feature and pixel).

    Attributes:
        scene: the product name (the ``scene`` column); time: sensing start (tz-aware;
            the ``time`` column, UTC, microseconds).
        features: every feature's name, with pixels or not (the ``feature`` column's
            dictionary, in AOI order).
        codes: per row, the index of its feature in ``features`` (int64, (n,)).
        columns: name -> (n,) array: row, col (int32 image indices), lon, lat (float64
            degrees), the value columns (float32), flags (uint64) and valid (bool), in
            this order.
    """

    scene: str
    time: datetime
    features: list[str]
    codes: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def rows_by_feature(self) -> dict[str, np.ndarray]:
        """Feature name -> positions of its rows (ascending, int64; empty when it has
        none), in one pass over the table."""
        order = np.argsort(self.codes, kind="stable")
        ends = np.cumsum(np.bincount(self.codes, minlength=len(self.features)))
        return dict(zip(self.features, np.split(order, ends[:-1]), strict=True))

    def to_arrow(self) -> pa.Table:
        """The table as Arrow: scene and feature dictionary-encoded strings (indices of
        the smallest signed type that holds the dictionary, as pandas stores a
        categorical's codes: earlier tables were written from pandas, and a batch's
        scenes keep one schema), time a UTC timestamp in microseconds, the rest as
        their numpy dtypes (bool as Arrow bool)."""
        n = len(self)
        start = self.time.astimezone(UTC).replace(tzinfo=None)
        micros = np.full(n, np.datetime64(start, "us").astype(np.int64))
        arrays = {
            "scene": _dictionary(np.zeros(n, np.int64), [self.scene]),
            "time": _array(micros, pa.timestamp("us", tz="UTC")),
            "feature": _dictionary(self.codes, self.features),
            **{name: _array(values) for name, values in self.columns.items()},
        }
        return pa.Table.from_arrays(list(arrays.values()), names=list(arrays))

    def to_pandas(self) -> pd.DataFrame:
        """The table as a DataFrame, as pandas reads its Parquet file (scene and feature
        categorical, time ``datetime64[us, UTC]``)."""
        return self.to_arrow().to_pandas()

    @classmethod
    def from_pandas(cls, frame: pd.DataFrame, scene: str, time: datetime) -> PixelTable:
        """A table from a DataFrame of the pixel-table columns (as :meth:`to_pandas` gives
        them; its scene and time columns are replaced by ``scene`` and ``time``)."""
        feature = frame["feature"].astype("category").cat
        columns = [c for c in frame.columns if c not in ("scene", "time", "feature")]
        return cls(
            scene,
            time,
            [str(name) for name in feature.categories],
            feature.codes.to_numpy(np.int64),
            {c: frame[c].to_numpy() for c in columns},
        )


def _array(values: np.ndarray, arrow_type: pa.DataType | None = None) -> pa.Array:
    """A 1-D numpy array (numbers or bool) as an Arrow array of ``arrow_type`` (by default
    its dtype's), from its buffer."""
    values = np.ascontiguousarray(values)
    if values.dtype == bool:
        return pa.Array.from_buffers(
            pa.bool_(), len(values), [None, pa.py_buffer(np.packbits(values, bitorder="little"))]
        )
    arrow_type = arrow_type or pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


def _strings(names: list[str]) -> pa.Array:
    """Strings as an Arrow string array: UTF-8 bytes and int32 offsets."""
    encoded = [name.encode() for name in names]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(text) for text in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(names), buffers)


def _dictionary(codes: np.ndarray, names: list[str]) -> pa.DictionaryArray:
    """Strings ``names[codes]``, dictionary-encoded (see :meth:`PixelTable.to_arrow`)."""
    index = next(t for t in (np.int8, np.int16, np.int32) if len(names) < np.iinfo(t).max)
    return pa.DictionaryArray.from_arrays(_array(codes.astype(index)), _strings(names))
