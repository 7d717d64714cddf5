"""The pixel table built without pandas (eotrend.sentinel3.pixel_table) against pyarrow's
own conversion of the DataFrame earlier versions wrote (pd.Categorical scene and feature,
``datetime64[us, UTC]`` time: ``pyarrow.Table.from_pandas``), both written to Parquet and
read back as a batch reads them; and against pandas' groupby.

The facts encoded: pandas stores a categorical's codes in the smallest signed integer
whose maximum exceeds the number of categories (int8 below 127, int16 below 32,767), and
pyarrow keeps that type as the dictionary's index type; a batch's scenes must keep one
schema on disk (batches.write_pixels unifies them), whichever version wrote them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eotrend.sentinel3.pixel_table import PixelTable

WHEN = datetime(2020, 6, 1, 13, 50, 0, 123456, tzinfo=UTC)
COLUMN = "TSM_NN_g.m-3"


def table(features: int, rows: int, seed: int = 0) -> PixelTable:
    """A pixel table of ``rows`` rows over ``features`` features (names with non-ASCII
    letters), in random feature order, some features without rows."""
    rng = np.random.default_rng(seed)
    return PixelTable(
        "S3B_OL_2_WFR____20200601T135000",
        WHEN,
        [f"lac_{k}_é" for k in range(features)],
        rng.integers(0, max(features // 2, 1), rows).astype(np.int64),
        {
            "row": rng.integers(0, 4091, rows).astype(np.int32),
            "col": rng.integers(0, 4865, rows).astype(np.int32),
            "lon": rng.uniform(-180, 180, rows),
            "lat": rng.uniform(-90, 90, rows),
            COLUMN: np.where(rng.random(rows) < 0.2, np.nan, rng.uniform(0, 30, rows)).astype(
                np.float32
            ),
            "flags": rng.integers(0, 2**63, rows, dtype=np.uint64),
            "valid": rng.random(rows) < 0.7,
        },
    )


def as_pandas_wrote_it(pixels: PixelTable) -> pa.Table:
    """The same table as a DataFrame built the way earlier versions built it, converted by
    pyarrow (the oracle)."""
    n = len(pixels)
    frame = pd.DataFrame(
        {
            "scene": pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[pixels.scene]),
            "time": pd.Series(pd.Timestamp(pixels.time), index=range(n)).astype(
                "datetime64[us, UTC]"
            ),
            "feature": pd.Categorical.from_codes(pixels.codes, categories=pixels.features),
            **pixels.columns,
        }
    )
    return pa.Table.from_pandas(frame, preserve_index=False)


def on_disk(arrow: pa.Table, path) -> pa.Table:
    """``arrow`` written to Parquet and read back, without the file's metadata."""
    pq.write_table(arrow, path)
    read = pq.read_table(path)
    return read.replace_schema_metadata(None)


@pytest.mark.parametrize(("features", "rows"), [(1, 40), (126, 500), (127, 500), (40_000, 900)])
def test_parquet_file_is_what_pyarrow_made_of_the_dataframe(features, rows, tmp_path):
    pixels = table(features, rows)
    mine = on_disk(pixels.to_arrow(), tmp_path / "mine.parquet")
    theirs = on_disk(as_pandas_wrote_it(pixels), tmp_path / "theirs.parquet")
    assert mine.schema == theirs.schema
    expected_index = pa.int8() if features < 127 else pa.int16() if features < 32767 else pa.int32()
    assert mine.schema.field("feature").type.index_type == expected_index
    for name in mine.column_names:  # NaN == NaN here, unlike Table.equals
        pd.testing.assert_series_equal(
            mine.column(name).to_pandas(), theirs.column(name).to_pandas(), check_names=False
        )


def test_an_empty_table_keeps_every_column_and_type(tmp_path):
    pixels = table(3, 0)
    mine = on_disk(pixels.to_arrow(), tmp_path / "mine.parquet")
    assert mine.schema == on_disk(as_pandas_wrote_it(pixels), tmp_path / "theirs.parquet").schema
    assert pixels.to_pandas().empty


def test_pandas_round_trip_and_rows_by_feature_equal_groupby():
    pixels = table(30, 700, seed=4)
    frame = pixels.to_pandas()
    back = PixelTable.from_pandas(frame, pixels.scene, pixels.time)
    assert back.features == pixels.features
    np.testing.assert_array_equal(back.codes, pixels.codes)
    for name, values in pixels.columns.items():
        np.testing.assert_array_equal(back[name], values)
    groups = frame.groupby("feature", observed=True).indices
    rows = pixels.rows_by_feature()
    assert list(rows) == pixels.features
    for name in pixels.features:
        np.testing.assert_array_equal(rows[name], groups.get(name, np.zeros(0, np.int64)))
