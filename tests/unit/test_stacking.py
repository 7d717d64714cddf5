"""Stacking: date order, composites against numpy, alignment and date errors, Earth Engine
tiles against the untiled export, nodata, warps, blocks through the worker engine, and
several Sentinel-3 scenes of one day (S3A and S3B, two frames of one pass)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from eotrend.core.errors import InputError
from eotrend.geo import raster
from eotrend.stages import stack as stacking
from eotrend.stages import trend as trending
from eotrend.stats import pixelwise
from eotrend.synthetic.series import write_yearly_series
from eotrend.synthetic.spec import SceneSpec, product_name
from support.commands import run

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


@pytest.mark.slow  # 5 to 7 s: not in make test-quick
def test_command_line(tmp_path, dated_files):
    """The command: options reach the stage; a user error is one line, exit status 1."""
    paths, arrays, _ = dated_files
    args = [sys.executable, "-m", "eotrend", "stack", *map(str, paths)]
    done = run([*args, "-o", str(tmp_path / "s.tif"), "--date-format", "%Y%m%d"], tmp_path)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(read_all(tmp_path / "s.tif"), np.stack(arrays))
    assert (tmp_path / "s_dates.csv").is_file()  # as the workflow names it
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


# --- several scenes of one day (Sentinel-3 scene grids, dated by their metadata) -------

# S3B flies in S3A's orbit 140 degrees out of phase (ESA, Sentinel-3 orbit): with a
# 100.99 min period it passes ~39 min after S3A, on a neighbouring track whose 1270 km
# swath overlaps S3A's, so both see a place on the same day. Here S3B comes first, so
# that name order (S3A < S3B) is not time order.
S3B_MORNING = datetime(2021, 6, 4, 9, 25, 40, 600000, tzinfo=UTC)
S3A_LATER = S3B_MORNING + timedelta(minutes=39, seconds=19, microseconds=250000)
NEXT_DAY = datetime(2021, 6, 5, 9, 58, 12, 300000, tzinfo=UTC)


def scene_grid(root, spec: SceneSpec, data, variable="TSM_NN"):
    """A scene's grid folder as the extract stage writes it: results/.../<scene>/grid/
    <variable>.tif, EPSG:4326, NaN nodata, tagged with the manifest's sensing start
    (ACQUISITION_DATETIME, microseconds) and the scene name."""
    name = product_name(spec).removesuffix(".SEN3")
    folder = root / name / "grid"
    folder.mkdir(parents=True)
    raster.write_geotiff(
        folder / f"{variable}.tif",
        np.asarray(data, np.float32),
        transform=(-60.7, 0.003, 0.0, -3.3, 0.0, -0.003),
        crs_wkt=utm_wkt(4326),
        nodata=float("nan"),
        tags={"ACQUISITION_DATETIME": spec.sensing_start.isoformat(), "SCENE": name},
    )
    return folder.parent


def spec(when, mission, **kwargs) -> SceneSpec:
    return SceneSpec(
        centre_lon=-60.6, centre_lat=-3.35, sensing_start=when, mission=mission, **kwargs
    )


def name_start(folder) -> str:
    """The sensing start in a product name (chars 16-30, rounded to
    the second), as ISO 8601 UTC: the independent label of the scene."""
    field = folder.name[16:31]
    return f"{field[:4]}-{field[4:6]}-{field[6:8]}T{field[9:11]}:{field[11:13]}:{field[13:]}Z"


@pytest.fixture
def same_day(tmp_path):
    """Grids of three scenes: S3B and S3A on 2021-06-04 (39 min apart), S3A the next day;
    20 % NaN each. Returns the scene folders (in time order) and their arrays."""
    rng = np.random.default_rng(3)
    folders, arrays = [], []
    for when, mission in [(S3B_MORNING, "S3B"), (S3A_LATER, "S3A"), (NEXT_DAY, "S3A")]:
        data = rng.normal(1.0, 0.3, size=(9, 7)).astype(np.float32)
        data[rng.random(data.shape) < 0.2] = np.nan
        folders.append(scene_grid(tmp_path / "scenes", spec(when, mission), data))
        arrays.append(data)
    return folders, arrays


def test_same_day_s3a_and_s3b_scenes_are_two_bands(tmp_path, same_day):
    """Two scenes of one UTC day (S3B, then S3A 39 min later) stay two bands, ordered by
    sensing time (not by name), each labelled by its sensing start to the second as the
    product name has it (rounded to the nearest second) in the band
    description, PERIOD, DATE and the band table; the trend's time axis reads the full
    timestamps (decimal years 39 min apart). Oracles: the product names' start fields,
    the hand-rounded times, and numpy on the written arrays."""
    folders, arrays = same_day
    out = tmp_path / "stack.tif"
    bands = stacking.stack(
        [str(f / "grid") for f in reversed(folders)],
        out,
        tmp_path / "dates.csv",
        variable="TSM_NN",
        dates_from="metadata",
    )
    labels = ["2021-06-04T09:25:41Z", "2021-06-04T10:05:00Z", "2021-06-05T09:58:12Z"]
    assert [name_start(f) for f in folders] == labels
    assert [b.label for b in bands] == labels
    np.testing.assert_array_equal(read_all(out), np.stack(arrays))
    info = raster.read_info(out)
    assert info.descriptions == tuple(labels)
    assert [m["PERIOD"] for m in info.band_metadata] == labels
    assert [m["DATE"] for m in info.band_metadata] == [
        "2021-06-04T09:25:41+00:00",
        "2021-06-04T10:05:00+00:00",
        "2021-06-05T09:58:12+00:00",
    ]
    table = pd.read_csv(tmp_path / "dates.csv")
    assert table["label"].tolist() == labels
    assert table["sources"].tolist() == [str(f / "grid" / "TSM_NN.tif") for f in folders]
    assert [b.sources[0].split("/")[-3][:3] for b in bands] == ["S3B", "S3A", "S3A"]
    # The trend stage's time axis: seconds since 2021-01-01 over 365 days, by hand.
    t = pixelwise.time_axis(trending.band_dates(info), "year")
    seconds = [(154 * 86400 + 9 * 3600 + 25 * 60 + 41), (154 * 86400 + 10 * 3600 + 5 * 60)]
    seconds.append(155 * 86400 + 9 * 3600 + 58 * 60 + 12)
    np.testing.assert_allclose(t, [2021 + s / (365 * 86400) for s in seconds], rtol=0, atol=1e-9)
    assert t[1] - t[0] == pytest.approx(2359 / (365 * 86400), rel=1e-6)


@pytest.mark.parametrize("reducer", ["mean", "median", "max", "first", "count"])
def test_daily_composite_merges_the_scenes_of_a_day(tmp_path, same_day, reducer):
    """period daily: one band per UTC day, the two same-day scenes reduced like numpy's
    nan-reducer of the two, the single scene of the next day as it is; labels are the
    days, DATE their middle (12:00 UTC) like the middle of a month or year."""
    folders, arrays = same_day
    out = tmp_path / "daily.tif"
    bands = stacking.stack(
        [str(f / "grid") for f in folders],
        out,
        tmp_path / "d.csv",
        variable="TSM_NN",
        dates_from="metadata",
        period="daily",
        reducer=reducer,
    )
    assert [b.label for b in bands] == ["2021-06-04", "2021-06-05"]
    assert [len(b.inputs) for b in bands] == [2, 1]
    got = read_all(out)
    np.testing.assert_allclose(
        got[0], nan_reduce(np.stack(arrays[:2]), reducer), rtol=1e-6, equal_nan=True
    )
    np.testing.assert_allclose(
        got[1], nan_reduce(np.stack(arrays[2:]), reducer), rtol=1e-6, equal_nan=True
    )
    info = raster.read_info(out)
    assert info.descriptions == ("2021-06-04", "2021-06-05")
    assert info.band_metadata[0]["DATE"] == "2021-06-04T12:00:00+00:00"


def test_two_frames_of_one_pass_are_two_acquisitions_merged_by_daily(tmp_path):
    """An AOI straddling two adjacent frames of one S3A pass (frame duration 179 s
    in the name; consecutive frame numbers, same orbit): each frame's grid holds its
    part of the AOI. Without a composite they are two bands 3 minutes apart; the daily
    composite is their mosaic (reducer first: the earlier frame where both have a value).
    Oracle: numpy on the two halves."""
    first = datetime(2021, 6, 4, 10, 5, 0, 300000, tzinfo=UTC)
    north = np.full((10, 6), np.nan, np.float32)
    south = np.full((10, 6), np.nan, np.float32)
    north[:6] = np.arange(36, dtype=np.float32).reshape(6, 6)
    south[5:] = 100 + np.arange(30, dtype=np.float32).reshape(5, 6)  # row 5 in both
    folders = [
        scene_grid(tmp_path, spec(first, "S3A", frame=2160), north),
        scene_grid(tmp_path, spec(first + timedelta(seconds=179.8), "S3A", frame=2340), south),
    ]
    inputs = [str(f / "grid") for f in folders]
    common = {"variable": "TSM_NN", "dates_from": "metadata"}
    bands = stacking.stack(inputs, tmp_path / "n.tif", tmp_path / "n.csv", **common)
    assert [b.label for b in bands] == ["2021-06-04T10:05:00Z", "2021-06-04T10:08:00Z"]
    np.testing.assert_array_equal(read_all(tmp_path / "n.tif"), np.stack([north, south]))
    stacking.stack(
        inputs, tmp_path / "d.tif", tmp_path / "d.csv", period="daily", reducer="first", **common
    )
    np.testing.assert_array_equal(
        read_all(tmp_path / "d.tif")[0], np.where(np.isnan(north), south, north)
    )


def test_one_acquisition_twice_is_an_error(tmp_path):
    """The NR and NT copies of one acquisition (same sensing start, timeliness
    NR vs NT in the name) are one acquisition: two grids with one time to the second are
    an error naming the second one, unless a daily composite combines them."""
    when = datetime(2021, 6, 4, 10, 5, 0, 300000, tzinfo=UTC)
    nr = scene_grid(tmp_path, spec(when, "S3A", timeliness="NR"), np.zeros((3, 3)))
    nt = scene_grid(tmp_path, spec(when + timedelta(microseconds=1000), "S3A"), np.ones((3, 3)))
    inputs = [str(nr / "grid"), str(nt / "grid")]
    with pytest.raises(InputError) as error:
        stacking.stack(
            inputs, tmp_path / "s.tif", tmp_path / "d.csv", variable="TSM_NN", dates_from="metadata"
        )
    message = str(error.value)
    assert message.startswith(f"{nt / 'grid' / 'TSM_NN.tif'}: has the same acquisition time")
    assert "(2021-06-04T10:05:00Z)" in message and "NR and NT" in message
    stacking.stack(
        inputs,
        tmp_path / "s.tif",
        tmp_path / "d.csv",
        variable="TSM_NN",
        dates_from="metadata",
        period="daily",
    )


def test_series_dated_by_day_with_duplicates_needs_a_period(tmp_path):
    """GeoTIFFs dated by day only (a DATE item without time, as Earth Engine exports
    carry) on one date are still an error without a composite; the same files dated to
    the second on that day are two acquisitions."""
    paths = []
    for k, text in enumerate(["2020-01-05", "2020-01-05", "2020-02-01"]):
        path = tmp_path / f"x{k}.tif"
        raster.write_geotiff(
            path,
            np.full((3, 3), k, np.float32),
            transform=TRANSFORM,
            crs_wkt=utm_wkt(),
            tags={"DATE": text},
        )
        paths.append(path)
    with pytest.raises(InputError, match=r"x1\.tif: has the same date \(2020-01-05\) as .*x0\.tif"):
        stacking.stack(paths, tmp_path / "s.tif", tmp_path / "d.csv", dates_from="metadata")
    bands = stacking.stack(
        paths, tmp_path / "s.tif", tmp_path / "d.csv", dates_from="metadata", period="month"
    )
    assert [len(b.inputs) for b in bands] == [2, 1]
    for k, text in enumerate(["2020-01-05T10:00:00Z", "2020-01-05T10:40:00Z"]):
        raster.write_geotiff(
            paths[k],
            np.full((3, 3), k, np.float32),
            transform=TRANSFORM,
            crs_wkt=utm_wkt(),
            tags={"DATE": text},
        )
    bands = stacking.stack(paths, tmp_path / "s.tif", tmp_path / "d.csv", dates_from="metadata")
    assert [b.label for b in bands] == [
        "2020-01-05T10:00:00Z",
        "2020-01-05T10:40:00Z",
        "2020-02-01",
    ]
