"""Outputs of two runs compared: rasters, tables, whole folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from eotrend.geo import raster


def assert_same_raster(a: Path, b: Path) -> None:
    """Same size, bands, georeferencing and values (NaN where NaN)."""
    info_a, info_b = raster.read_info(a), raster.read_info(b)
    for field in ("width", "height", "count", "transform", "crs_wkt", "descriptions"):
        assert getattr(info_a, field) == getattr(info_b, field), field
    np.testing.assert_array_equal(
        raster.read_rows(a, 0, info_a.height), raster.read_rows(b, 0, info_b.height)
    )


def assert_same_table(a: Path, b: Path) -> None:
    """Equal CSV tables (values, dtypes, column order)."""
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def assert_same_tree(a: Path, b: Path) -> None:
    """The same files with the same bytes under two folders (hidden files included)."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for name in files_a:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
