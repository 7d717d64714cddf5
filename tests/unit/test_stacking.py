"""Stacking: date order, composites against numpy, alignment and date errors."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from eotrend import raster, stacking
from eotrend.errors import InputError

TRANSFORM = (500000.0, 30.0, 0.0, 9600000.0, 0.0, -30.0)


def utm_wkt() -> str:
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32720)
    return srs.ExportToWkt()


def write(path, data, transform=TRANSFORM, nodata=-9999.0):
    raster.write_geotiff(
        path, data.astype(np.float32), transform=transform, crs_wkt=utm_wkt(), nodata=nodata
    )
    return path


@pytest.fixture
def dated_files(tmp_path):
    """Ten single-band rasters with values = day index, names shuffled against dates."""
    rng = np.random.default_rng(1)
    days = [
        f"2020{m:02d}{d:02d}"
        for m, d in [
            (1, 5),
            (1, 20),
            (2, 3),
            (3, 9),
            (3, 30),
            (6, 1),
            (6, 15),
            (7, 4),
            (11, 2),
            (12, 24),
        ]
    ]
    prefixes = random.Random(2).sample(range(10), 10)  # name order != date order
    arrays, paths = [], []
    for prefix, day in zip(prefixes, days, strict=True):
        data = rng.normal(size=(37, 23))
        data[rng.random(data.shape) < 0.2] = -9999.0
        arrays.append(np.where(data == -9999.0, np.nan, data).astype(np.float32))
        paths.append(write(tmp_path / f"{prefix}_scene_{day}.tif", data))
    return paths, arrays, days


REGEX = r"_(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"


def read_all(path):
    return raster.read_rows(path, 0, raster.read_info(path).height)


def test_shuffled_names_stack_in_date_order(tmp_path, dated_files):
    paths, arrays, days = dated_files
    out = tmp_path / "stack.tif"
    bands = stacking.stack(
        list(reversed(paths)), out, tmp_path / "dates.csv", regex=REGEX, threads=2
    )
    assert [b.date.strftime("%Y%m%d") for b in bands] == days
    np.testing.assert_array_equal(read_all(out), np.stack(arrays))
    info = raster.read_info(out)
    assert info.descriptions == tuple(f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in days)
    assert all(
        meta["DATE"].startswith(desc)
        for meta, desc in zip(info.band_metadata, info.descriptions, strict=True)
    )


@pytest.mark.parametrize("reducer", stacking.REDUCERS)
def test_monthly_composite_equals_numpy(tmp_path, dated_files, reducer):
    paths, arrays, days = dated_files
    out = tmp_path / "stack.tif"
    stacking.stack(
        paths, out, tmp_path / "dates.csv", regex=REGEX, period="month", reducer=reducer, threads=2
    )
    months = sorted({d[:6] for d in days})
    got = read_all(out)
    assert got.shape[0] == len(months)
    for k, month in enumerate(months):
        group = np.stack([a for a, d in zip(arrays, days, strict=True) if d[:6] == month])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
            expected = {
                "max": np.nanmax,
                "min": np.nanmin,
                "mean": np.nanmean,
                "median": np.nanmedian,
            }.get(reducer)
            if expected is not None:
                want = expected(group, axis=0)
            elif reducer == "count":
                want = np.sum(~np.isnan(group), axis=0).astype(np.float32)
            else:
                want = _first_valid(group if reducer == "first" else group[::-1])
        np.testing.assert_allclose(got[k], want, rtol=1e-6, equal_nan=True)


def _first_valid(group):
    out = np.full(group.shape[1:], np.nan, dtype=np.float32)
    for layer in group[::-1]:  # the earliest valid value wins, assigned last
        out = np.where(np.isnan(layer), out, layer)
    return out


def test_misaligned_input_names_the_file(tmp_path, dated_files):
    paths, _, _ = dated_files
    shifted = write(
        tmp_path / "x_scene_20210101.tif",
        np.zeros((37, 23)),
        transform=(500030.0, 30.0, 0.0, 9600000.0, 0.0, -30.0),
    )
    with pytest.raises(InputError, match=r"x_scene_20210101\.tif.*transform"):
        stacking.stack([*paths, shifted], tmp_path / "s.tif", tmp_path / "d.csv", regex=REGEX)


def test_undated_files_are_listed(tmp_path, dated_files):
    paths, _, _ = dated_files
    a = write(tmp_path / "nodate_a.tif", np.zeros((37, 23)))
    b = write(tmp_path / "nodate_b.tif", np.zeros((37, 23)))
    with pytest.raises(InputError) as error:
        stacking.stack([*paths, a, b], tmp_path / "s.tif", tmp_path / "d.csv", regex=REGEX)
    assert "nodate_a.tif" in str(error.value) and "nodate_b.tif" in str(error.value)


def test_duplicate_dates_need_a_period(tmp_path, dated_files):
    paths, _, _ = dated_files
    twin = write(tmp_path / "twin_scene_20200105.tif", np.ones((37, 23)))
    with pytest.raises(InputError, match="same date"):
        stacking.stack([*paths, twin], tmp_path / "s.tif", tmp_path / "d.csv", regex=REGEX)
    stacking.stack(
        [*paths, twin],
        tmp_path / "s.tif",
        tmp_path / "d.csv",
        regex=REGEX,
        period="year",
        reducer="max",
    )
    assert raster.read_info(tmp_path / "s.tif").count == 1
