"""Stacking: date order, composites against numpy, alignment and date errors, Earth Engine
tiles against the untiled export, nodata, warps, and blocks through the worker engine."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, run
from eotrend import raster, stacking
from eotrend.errors import InputError
from eotrend.synthetic.series import write_yearly_series

TRANSFORM = (500000.0, 30.0, 0.0, 9600000.0, 0.0, -30.0)


def utm_wkt(epsg: int = 32720) -> str:
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def write(path, data, transform=TRANSFORM, nodata=-9999.0, epsg=32720, dtype="float32"):
    raster.write_geotiff(
        path,
        np.asarray(data).astype(dtype),
        transform=transform,
        crs_wkt=utm_wkt(epsg),
        nodata=nodata,
        dtype=dtype,
    )
    return path


def dated_series(tmp_path, days, shape, seed=1):
    """Rasters named <shuffled number>_scene_<day>.tif (name order != date order), 20 %
    nodata; returns the paths and the arrays with NaN for nodata (the oracle)."""
    rng = np.random.default_rng(seed)
    prefixes = random.Random(2).sample(range(len(days)), len(days))
    arrays, paths = [], []
    for prefix, day in zip(prefixes, days, strict=True):
        data = rng.normal(size=shape)
        data[rng.random(data.shape) < 0.2] = -9999.0
        arrays.append(np.where(data == -9999.0, np.nan, data).astype(np.float32))
        paths.append(write(tmp_path / f"{prefix}_scene_{day}.tif", data))
    return paths, arrays


DAYS = [
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
REGEX = r"_(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"


@pytest.fixture
def dated_files(tmp_path):
    """Ten single-band 37 x 23 rasters, names shuffled against dates."""
    paths, arrays = dated_series(tmp_path, DAYS, (37, 23))
    return paths, arrays, DAYS


def read_all(path):
    return raster.read_rows(path, 0, raster.read_info(path).height)


def nan_reduce(group, reducer):
    """The oracle: numpy's nan-reducers, and hand-written count/first/last."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
        if reducer in ("max", "min", "mean", "median"):
            return getattr(np, f"nan{reducer}")(group, axis=0)
    if reducer == "count":
        return np.sum(~np.isnan(group), axis=0).astype(np.float32)
    out = np.full(group.shape[1:], np.nan, dtype=np.float32)
    for layer in group[::-1] if reducer == "first" else group:  # the wanted one comes last
        out = np.where(np.isnan(layer), out, layer)
    return out


def test_shuffled_names_stack_in_date_order_and_bands_carry_dates(tmp_path, dated_files):
    paths, arrays, days = dated_files
    out = tmp_path / "stack.tif"
    bands = stacking.stack(
        list(reversed(paths)), out, tmp_path / "dates.csv", regex=REGEX, threads=2
    )
    assert [b.date.strftime("%Y%m%d") for b in bands] == days
    np.testing.assert_array_equal(read_all(out), np.stack(arrays))
    info = raster.read_info(out)
    isodays = [f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in days]
    assert info.descriptions == tuple(isodays)
    assert info.dtype == "float32" and np.isnan(info.nodata)
    by_day = {p.name.split("_scene_")[1][:8]: p for p in paths}
    for meta, iso, day in zip(info.band_metadata, isodays, days, strict=True):
        assert meta["DATE"] == f"{iso}T00:00:00+00:00"
        assert meta["PERIOD"] == iso
        assert meta["SOURCES"] == by_day[day].name
    table = pd.read_csv(tmp_path / "dates.csv")
    assert list(table.columns) == ["band", "label", "date", "sources"]
    assert table["band"].tolist() == list(range(1, 11))
    assert table["label"].tolist() == isodays
    assert table["sources"].tolist() == [str(by_day[d]) for d in days]


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
        np.testing.assert_allclose(got[k], nan_reduce(group, reducer), rtol=1e-6, equal_nan=True)
    info = raster.read_info(out)
    assert info.band_metadata[0]["PERIOD"] == "2020-01"
    assert info.descriptions[0] == "2020-01-16"  # the middle of the month
    assert len(info.band_metadata[0]["SOURCES"].split(";")) == 2


@pytest.mark.parametrize("mem_mb", [None, 1])
def test_blocks_through_workers_equal_numpy(tmp_path, monkeypatch, mem_mb):
    """A raster of several row blocks, read by worker processes (with a 1 MB memory budget,
    in smaller blocks with tiles as high): the same as numpy on the arrays."""
    monkeypatch.setattr(stacking, "SINGLE_BLOCK_BYTES", 0)
    paths, arrays = dated_series(tmp_path, DAYS[:6], (600, 150))
    out = tmp_path / "stack.tif"
    stacking.stack(paths, out, tmp_path / "d.csv", regex=REGEX, threads=2, mem_mb=mem_mb)
    np.testing.assert_array_equal(read_all(out), np.stack(arrays))
    from osgeo import gdal

    ds = gdal.Open(str(out))
    tile = ds.GetRasterBand(1).GetBlockSize()
    assert tile == [256, 256] if mem_mb is None else tile[0] == tile[1] < 256
    stacking.stack(
        paths, out, tmp_path / "d.csv", regex=REGEX, period="month", reducer="mean", threads=2
    )
    months = [[0, 1], [2], [3, 4], [5]]
    expected = [nan_reduce(np.stack([arrays[i] for i in m]), "mean") for m in months]
    np.testing.assert_allclose(read_all(out), np.stack(expected), rtol=1e-6, equal_nan=True)


def test_plan_blocks():
    # Small: one block, in-process. Large: one row of 256-pixel tiles per block.
    assert stacking.plan_blocks(707, 1033, 21, 1, False, 2**30) == (707, 256)
    assert stacking.plan_blocks(7000, 7000, 21, 1, False, 2**30) == (256, 256)
    # A tight budget: fewer rows, tiles of the same height, a multiple of 16.
    rows, tile = stacking.plan_blocks(7000, 7000, 21, 1, False, 50 * 2**20)
    assert rows == tile and rows % 16 == 0 and 16 <= rows < 256
    assert stacking.block_bytes_per_row(7000, 21, 1, False) * rows <= 50 * 2**20
    # Composites hold their group: 365 daily inputs into one yearly band.
    assert stacking.plan_blocks(7000, 7000, 1, 365, True, 2**30)[0] < 256
    assert stacking.plan_blocks(7000, 7000, 1, 365, True, 1)[0] == 16  # never below 16


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"transform": (500030.0, 30.0, 0.0, 9600000.0, 0.0, -30.0)}, r"origin .* \(\+1, \+0\)"),
        ({"transform": (500000.0, 20.0, 0.0, 9600000.0, 0.0, -20.0)}, "pixel width 20.0 != 30.0"),
        ({"epsg": 32633}, "CRS EPSG:32633"),
        ({"dtype": "int16"}, "data type int16 != float32"),
        ({"shape": (36, 23)}, "size 23 x 36 != 23 x 37"),
    ],
)
def test_misaligned_input_names_the_file(tmp_path, dated_files, kwargs, problem):
    paths, _, _ = dated_files
    shape = kwargs.pop("shape", (37, 23))
    odd = write(tmp_path / "x_scene_20210101.tif", np.zeros(shape), **kwargs)
    with pytest.raises(InputError) as error:
        stacking.stack([*paths, odd], tmp_path / "s.tif", tmp_path / "d.csv", regex=REGEX)
    message = str(error.value)
    assert message.startswith(f"{odd}: does not align with ")
    assert "_scene_20200105.tif" in message  # the first input, by date
    assert re.search(problem, message), message
    assert "--align" in message


def test_align_warps_onto_the_reference_grid(tmp_path, dated_files):
    """An input shifted by 2 columns and one at 60 m, warped (nearest) onto the 30 m grid,
    equal numpy shifts and repeats of their arrays."""
    paths, arrays, _ = dated_files
    rng = np.random.default_rng(5)
    shifted = rng.normal(size=(37, 23)).astype(np.float32)
    coarse = rng.normal(size=(19, 12)).astype(np.float32)
    extra = [
        write(tmp_path / "s_scene_20210101.tif", shifted, (500060.0, 30, 0, 9600000.0, 0, -30)),
        write(tmp_path / "c_scene_20210201.tif", coarse, (500000.0, 60, 0, 9600000.0, 0, -60)),
    ]
    out = tmp_path / "stack.tif"
    stacking.stack([*paths, *extra], out, tmp_path / "d.csv", regex=REGEX, align=paths[0])
    got = read_all(out)
    np.testing.assert_array_equal(got[:10], np.stack(arrays))  # on the grid: read as they are
    want_shifted = np.full((37, 23), np.nan, np.float32)
    want_shifted[:, 2:] = shifted[:, :-2]
    np.testing.assert_array_equal(got[10], want_shifted)
    np.testing.assert_array_equal(got[11], np.repeat(np.repeat(coarse, 2, 0), 2, 1)[:37, :23])
    assert raster.read_info(out).transform == TRANSFORM


def test_tiled_export_stacks_like_the_untiled_export(tmp_path):
    """Earth Engine tiles (names shuffled, no date tag) mosaic to exactly the untiled files;
    a missing tile reads as nodata."""
    common = {"years": range(2001, 2006), "width": 45, "height": 40, "seed": 4, "date_tag": False}
    whole = write_yearly_series(tmp_path / "whole", **common)
    tiles = write_yearly_series(tmp_path / "tiles", tile_size=(16, 32), **common)
    assert len(tiles) == 5 * 3 * 2
    assert tiles[1].name == "ndvi_max_2001-0000000000-0000000032.tif"
    stacking.stack(whole, tmp_path / "a.tif", tmp_path / "a.csv")
    shuffled = random.Random(0).sample(tiles, len(tiles))
    bands = stacking.stack(shuffled, tmp_path / "b.tif", tmp_path / "b.csv")
    expected = read_all(tmp_path / "a.tif")
    np.testing.assert_array_equal(read_all(tmp_path / "b.tif"), expected)
    assert [b.label for b in bands] == [f"{y}-01-01" for y in range(2001, 2006)]
    assert bands[0].sources == tuple(str(p) for p in tiles[:6])
    assert raster.read_info(tmp_path / "b.tif").band_metadata[0]["SOURCES"] == ";".join(
        p.name for p in tiles[:6]
    )
    missing = tmp_path / "tiles" / "ndvi_max_2003-0000000016-0000000000.tif"
    missing.unlink()
    stacking.stack(
        [p for p in tiles if p != missing], tmp_path / "c.tif", tmp_path / "c.csv", threads=1
    )
    expected[2, 16:32, 0:32] = np.nan
    np.testing.assert_array_equal(read_all(tmp_path / "c.tif"), expected)


def test_nodata_is_honoured(tmp_path):
    """Exports without a nodata tag keep -9999 as a value unless nodata is given; a file's
    own nodata and the given one are both missing; no missing value enters a max."""
    common = {"years": range(2001, 2005), "width": 20, "height": 12, "seed": 2}
    tagged = write_yearly_series(tmp_path / "tagged", **common)
    bare = write_yearly_series(tmp_path / "bare", nodata_tag=False, **common)
    assert raster.read_info(bare[0]).nodata is None
    stacking.stack(tagged, tmp_path / "t.tif", tmp_path / "t.csv")
    oracle = read_all(tmp_path / "t.tif")
    assert np.isnan(oracle).any()
    stacking.stack(bare, tmp_path / "raw.tif", tmp_path / "raw.csv")
    assert (read_all(tmp_path / "raw.tif") == -9999.0).sum() == np.isnan(oracle).sum()
    stacking.stack(bare, tmp_path / "b.tif", tmp_path / "b.csv", nodata=-9999.0)
    np.testing.assert_array_equal(read_all(tmp_path / "b.tif"), oracle)
    # Both the file's own nodata (-9999) and a given one (0.5 < every value's max) are out.
    stacking.stack(
        tagged, tmp_path / "m.tif", tmp_path / "m.csv", period="year", reducer="max", nodata=0.5
    )
    values = np.where(oracle == np.float32(0.5), np.nan, oracle)
    np.testing.assert_array_equal(read_all(tmp_path / "m.tif"), values)


def test_dates_from_format_and_from_metadata(tmp_path):
    days = ["20200105", "20190611", "20200203"]
    paths, arrays = dated_series(tmp_path, days, (5, 4))
    bands = stacking.stack(paths, tmp_path / "s.tif", tmp_path / "d.csv", date_format="%Y%m%d")
    assert [b.label for b in bands] == ["2019-06-11", "2020-01-05", "2020-02-03"]
    np.testing.assert_array_equal(read_all(tmp_path / "s.tif"), np.stack(arrays)[[1, 0, 2]])
    # Tiles dated by their metadata (the first tile's DATE).
    tiles = write_yearly_series(
        tmp_path / "t", years=[2002, 2001], width=8, height=8, tile_size=4, name="x{year}.tif"
    )
    bands = stacking.stack(tiles, tmp_path / "m.tif", tmp_path / "m.csv", dates_from="metadata")
    assert [b.label for b in bands] == ["2001-07-01", "2002-07-01"]


def test_undated_files_are_listed(tmp_path, dated_files):
    paths, _, _ = dated_files
    a = write(tmp_path / "nodate_a.tif", np.zeros((37, 23)))
    b = write(tmp_path / "nodate_b.tif", np.zeros((37, 23)))
    with pytest.raises(InputError) as error:
        stacking.stack([*paths, a, b], tmp_path / "s.tif", tmp_path / "d.csv", regex=REGEX)
    assert str(error.value).startswith(f"{a}, {b}: have no date readable from the file name")


def test_duplicate_dates_need_a_period(tmp_path, dated_files):
    paths, arrays, _ = dated_files
    twin = write(tmp_path / "twin_scene_20200105.tif", np.ones((37, 23)))
    with pytest.raises(InputError, match=r"twin_scene_20200105\.tif: has the same date"):
        stacking.stack([*paths, twin], tmp_path / "s.tif", tmp_path / "d.csv", regex=REGEX)
    stacking.stack(
        [*paths, twin],
        tmp_path / "s.tif",
        tmp_path / "d.csv",
        regex=REGEX,
        period="year",
        reducer="max",
    )
    want = nan_reduce(np.stack([*arrays, np.ones((37, 23), np.float32)]), "max")
    np.testing.assert_array_equal(read_all(tmp_path / "s.tif"), want[None])


def test_a_block_waits_for_the_writer(tmp_path):
    count = tmp_path / "written"
    stacking._publish_count(count, 3)
    stacking._wait_for_written(str(count), 3, os.getpid())  # returns at once
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with pytest.raises(RuntimeError, match="is gone"):
        stacking._wait_for_written(str(count), 4, gone.pid)


def test_command_line(tmp_path, dated_files):
    """The command: options reach the stage; a user error is one line, exit status 1."""
    paths, arrays, _ = dated_files
    args = [sys.executable, str(REPO / "scripts" / "stack.py"), *map(str, paths)]
    done = run([*args, "-o", str(tmp_path / "s.tif"), "--date-format", "%Y%m%d"], tmp_path)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(read_all(tmp_path / "s.tif"), np.stack(arrays))
    assert (tmp_path / "s.dates.csv").is_file()
    done = run(
        [*args, "-o", str(tmp_path / "y.tif"), "--period", "year", "--nodata", "0"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert raster.read_info(tmp_path / "y.tif").descriptions == ("2020-07-02",)
    done = run([*args, "-o", str(tmp_path / "n.tif"), "--date-regex", "(?P<yr>x)"], tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: dates.regex: '(?P<yr>x)' has no named group year. "
        "Write the year as (?P<year>\\d{4}); month and day groups are optional."
    ]
