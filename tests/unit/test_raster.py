"""eotrend.geo.raster: round trips checked with GDAL directly, atomicity, COG layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from osgeo import gdal, osr

from eotrend.core.errors import InputError
from eotrend.geo.raster import (
    GeoTiffWriter,
    block_rows,
    overview_levels,
    read_info,
    read_rows,
    read_window,
    write_geotiff,
)

gdal.UseExceptions()

TRANSFORM = (500000.0, 30.0, 0.0, 9600000.0, 0.0, -30.0)


def utm20s() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32720)
    return srs.ExportToWkt()


def epsg_of(wkt: str) -> str | None:
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    return srs.GetAuthorityCode(None)


def gdal_array(path: Path) -> np.ndarray:
    """The raw stored values, read by GDAL alone (the oracle for what is in the file)."""
    ds = gdal.Open(str(path))
    return ds.ReadAsArray().reshape(ds.RasterCount, ds.RasterYSize, ds.RasterXSize)


def sample(count: int = 3, height: int = 300, width: int = 270) -> np.ndarray:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(count, height, width)).astype(np.float32)
    data[rng.random(data.shape) < 0.1] = np.nan
    return data


META = {
    "descriptions": ("slope", "intercept", "nobs"),
    "band_metadata": ({"units": "1/yr"}, {"units": "1"}, {"units": "count", "min_obs": "3"}),
    "tags": {"EOTREND_VERSION": "0.1.0", "CONFIG_DIGEST": "abc123"},
}


def test_round_trip_data_and_metadata(tmp_path: Path) -> None:
    data = sample()
    path = tmp_path / "out.tif"
    write_geotiff(path, data, transform=TRANSFORM, crs_wkt=utm20s(), **META)
    info = read_info(path)
    assert (info.width, info.height, info.count, info.dtype) == (270, 300, 3, "float32")
    assert info.transform == TRANSFORM
    assert epsg_of(info.crs_wkt) == "32720"
    assert info.nodata is not None and np.isnan(info.nodata)
    assert info.descriptions == META["descriptions"]
    assert info.band_metadata == META["band_metadata"]
    assert META["tags"].items() <= info.tags.items()
    np.testing.assert_array_equal(gdal_array(path), data)
    np.testing.assert_array_equal(read_rows(path, 0, 300), data)
    np.testing.assert_array_equal(read_rows(path, 17, 40, bands=[3, 1]), data[[2, 0], 17:57])
    ds = gdal.Open(str(path))
    structure = ds.GetMetadata("IMAGE_STRUCTURE")
    assert structure["COMPRESSION"] == "DEFLATE"
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


@pytest.mark.parametrize("nodata", [-9999.0, 0.1])  # 0.1 is stored as float32(0.1)
def test_numeric_nodata_replaces_nan_and_reads_back_as_nan(tmp_path: Path, nodata: float) -> None:
    data = sample(count=2)
    path = tmp_path / "nd.tif"
    write_geotiff(path, data, transform=TRANSFORM, crs_wkt=utm20s(), nodata=nodata)
    raw = gdal_array(path)
    assert np.all(raw[np.isnan(data)] == np.float32(nodata)) and not np.isnan(raw).any()
    assert read_info(path).nodata == float(np.float32(nodata))  # GDAL rounds it as stored
    np.testing.assert_array_equal(read_rows(path, 0, 300), data)


@pytest.mark.parametrize(
    ("dtype", "nodata", "read_dtype"),
    [("uint8", 255, np.float32), ("int16", -1, np.float32), ("int32", -(2**31), np.float64)],
)
def test_integer_files(tmp_path: Path, dtype: str, nodata: int, read_dtype: type) -> None:
    data = np.arange(2 * 20 * 30).reshape(2, 20, 30) % 200
    data = data.astype(dtype)
    data[0, 3, 4] = nodata
    path = tmp_path / "int.tif"
    write_geotiff(path, data, transform=TRANSFORM, crs_wkt=utm20s(), nodata=nodata)
    assert read_info(path).dtype == dtype
    got = read_rows(path, 0, 20)
    assert got.dtype == read_dtype
    want = data.astype(read_dtype)
    want[0, 3, 4] = np.nan
    np.testing.assert_array_equal(got, want)


def test_write_geotiff_default_dtype(tmp_path: Path) -> None:
    grid = np.arange(12.0).reshape(3, 4)
    write_geotiff(tmp_path / "f.tif", grid, transform=TRANSFORM, crs_wkt=utm20s())
    assert read_info(tmp_path / "f.tif").dtype == "float32"
    write_geotiff(tmp_path / "d.tif", grid, transform=TRANSFORM, crs_wkt="", dtype="float64")
    assert read_info(tmp_path / "d.tif").dtype == "float64"
    write_geotiff(
        tmp_path / "i.tif", grid.astype("uint16"), transform=TRANSFORM, crs_wkt="", nodata=0
    )
    assert read_info(tmp_path / "i.tif").dtype == "uint16"


def test_integer_output_needs_numeric_nodata(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nodata"):
        GeoTiffWriter(
            tmp_path / "x.tif",
            width=2,
            height=2,
            count=1,
            transform=TRANSFORM,
            crs_wkt="",
            dtype="int16",
        )


def write_in_blocks(path: Path, data: np.ndarray, order: list[int], rows: int, cog: bool) -> None:
    count, height, width = data.shape
    with GeoTiffWriter(
        path,
        width=width,
        height=height,
        count=count,
        transform=TRANSFORM,
        crs_wkt=utm20s(),
        cog=cog,
        block=128,
        **META,
    ) as writer:
        for row0 in order:
            writer.write_rows(row0, data[:, row0 : row0 + rows])


@pytest.mark.parametrize("cog", [False, True])
def test_shuffled_row_blocks_give_the_same_file(tmp_path: Path, cog: bool) -> None:
    data = sample()
    starts = list(range(0, 300, 37))
    shuffled = list(np.random.default_rng(5).permutation(starts))
    write_in_blocks(tmp_path / "one.tif", data, [0], 300, cog)
    write_in_blocks(tmp_path / "shuffled.tif", data, shuffled, 37, cog)
    one, shuf = read_info(tmp_path / "one.tif"), read_info(tmp_path / "shuffled.tif")
    assert repr({**vars(one), "path": ""}) == repr({**vars(shuf), "path": ""})  # NaN nodata
    np.testing.assert_array_equal(gdal_array(tmp_path / "one.tif"), data)
    np.testing.assert_array_equal(gdal_array(tmp_path / "shuffled.tif"), data)
    if cog:  # the COG conversion rewrites the tiles in a canonical order
        assert (tmp_path / "one.tif").read_bytes() == (tmp_path / "shuffled.tif").read_bytes()


@pytest.mark.parametrize("cog", [False, True])
def test_failure_inside_writer_leaves_nothing(tmp_path: Path, cog: bool) -> None:
    data = sample()
    with pytest.raises(ZeroDivisionError):  # noqa: SIM117 - the raise must be inside the writer
        with GeoTiffWriter(
            tmp_path / "out.tif",
            width=270,
            height=300,
            count=3,
            transform=TRANSFORM,
            crs_wkt=utm20s(),
            cog=cog,
        ) as writer:
            writer.write_rows(0, data[:, :100])
            _ = 1 / 0
    assert list(tmp_path.iterdir()) == []


def test_rows_left_unwritten_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    data = sample()
    with pytest.raises(ValueError, match="never written"):  # noqa: SIM117
        with GeoTiffWriter(
            tmp_path / "out.tif",
            width=270,
            height=300,
            count=3,
            transform=TRANSFORM,
            crs_wkt=utm20s(),
            cog=True,
        ) as writer:
            writer.write_rows(0, data[:, :299])
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "out.tif"
    write_geotiff(path, np.zeros((4, 5), np.float32), transform=TRANSFORM, crs_wkt=utm20s())
    with (
        pytest.raises(RuntimeError),
        GeoTiffWriter(path, width=5, height=4, count=1, transform=TRANSFORM, crs_wkt=utm20s()),
    ):
        raise RuntimeError("boom")
    np.testing.assert_array_equal(read_rows(path, 0, 4), 0.0)


def test_cog_output(tmp_path: Path) -> None:
    data = sample(height=600, width=500)
    path = tmp_path / "cog.tif"
    write_geotiff(path, data, transform=TRANSFORM, crs_wkt=utm20s(), cog=True, **META)
    ds = gdal.Open(str(path))
    assert ds.GetMetadata("IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert ds.GetMetadata("IMAGE_STRUCTURE").get("COMPRESSION") == "DEFLATE"
    assert ds.GetRasterBand(1).GetOverviewCount() >= 1
    info = read_info(path)
    assert info.descriptions == META["descriptions"]
    assert info.band_metadata == META["band_metadata"]
    assert META["tags"].items() <= info.tags.items()
    assert np.isnan(info.nodata) and info.transform == TRANSFORM
    np.testing.assert_array_equal(read_rows(path, 0, 600), data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cog.tif"]


def test_not_a_raster_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("not a GeoTIFF")
    with pytest.raises(InputError, match=r"notes\.tif") as excinfo:
        read_info(path)
    assert excinfo.value.path == str(path)
    with pytest.raises(InputError, match=r"notes\.tif"):
        read_rows(path, 0, 1)
    with pytest.raises(InputError, match=r"missing\.tif"):
        read_info(tmp_path / "missing.tif")


def test_read_rows_outside_the_raster(tmp_path: Path) -> None:
    path = tmp_path / "small.tif"
    write_geotiff(path, np.zeros((4, 5), np.float32), transform=TRANSFORM, crs_wkt=utm20s())
    with pytest.raises(ValueError, match="rows"):
        read_rows(path, 2, 3)
    with pytest.raises(ValueError, match="bands"):
        read_rows(path, 0, 1, bands=[2])


@given(
    height=st.integers(1, 100_000),
    width=st.integers(1, 100_000),
    count=st.integers(1, 50),
    budget=st.integers(1, 2**34),
    align=st.sampled_from([1, 16, 256]),
    bytes_per_value=st.integers(1, 40),
)
def test_block_rows_within_budget(
    height: int, width: int, count: int, budget: int, align: int, bytes_per_value: int
) -> None:
    rows = block_rows(height, width, count, budget, align=align, bytes_per_value=bytes_per_value)
    row_bytes = count * width * bytes_per_value
    assert 1 <= rows <= height
    if row_bytes <= budget:
        assert rows * row_bytes <= budget
        # as large as the budget allows, to one alignment step
        assert rows == height or (rows + align) * row_bytes > budget
    if align <= rows < height:
        assert rows % align == 0


def test_read_window_and_block_size(tmp_path: Path) -> None:
    data = sample(count=4, height=70, width=90)
    path = tmp_path / "w.tif"
    write_geotiff(path, data, transform=TRANSFORM, crs_wkt=utm20s(), block=32)
    assert read_info(path).block_size == (32, 32)
    np.testing.assert_array_equal(read_window(path, 5, 30, 17, 40), data[:, 5:35, 17:57])
    np.testing.assert_array_equal(
        read_window(path, 0, 70, 60, None, bands=[4, 2], threads=2), data[[3, 1], :, 60:]
    )
    with pytest.raises(ValueError, match="columns"):
        read_window(path, 0, 1, 80, 11)


def write_windows(path: Path, data: np.ndarray, windows: list, **kwargs) -> None:
    count, height, width = data.shape
    with GeoTiffWriter(
        path,
        width=width,
        height=height,
        count=count,
        transform=TRANSFORM,
        crs_wkt=utm20s(),
        block=128,
        **{**META, **kwargs},
    ) as writer:
        for r, n, c, k in windows:
            writer.write_window(r, c, data[:, r : r + n, c : c + k])


@pytest.mark.parametrize("cog", [False, True])
def test_windows_in_any_order_give_the_same_file(tmp_path: Path, cog: bool) -> None:
    data = sample()  # 300 x 270
    tiles = [
        (r, min(128, 300 - r), c, min(128, 270 - c)) for r in (0, 128, 256) for c in (0, 128, 256)
    ]
    odd = [(0, 300, 0, 100), (0, 37, 100, 170), (37, 263, 100, 170)]  # not tile-aligned
    order = np.random.default_rng(3).permutation(len(tiles))
    write_windows(tmp_path / "rows.tif", data, [(0, 300, 0, 270)], cog=cog)
    write_windows(tmp_path / "tiles.tif", data, [tiles[i] for i in order], cog=cog)
    write_windows(tmp_path / "odd.tif", data, odd, cog=cog)
    for name in ("rows", "tiles", "odd"):
        np.testing.assert_array_equal(gdal_array(tmp_path / f"{name}.tif"), data)
    if cog:
        first = (tmp_path / "rows.tif").read_bytes()
        assert (tmp_path / "tiles.tif").read_bytes() == first
        assert (tmp_path / "odd.tif").read_bytes() == first


def test_unwritten_window_is_named(tmp_path: Path) -> None:
    data = sample()
    windows = [(0, 300, 0, 100), (0, 150, 100, 170), (200, 100, 100, 170)]
    with pytest.raises(ValueError, match="never written, first rows 150-199, columns 100-269"):
        write_windows(tmp_path / "gap.tif", data, windows, cog=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("in_memory", [True, False])
def test_cog_codec_level_overviews_and_bounded_cache(
    tmp_path: Path, monkeypatch, in_memory: bool
) -> None:
    """ZSTD at level 1 with 2 compression threads, a given number of overviews; the rows
    file in memory or on disk makes the same file; GDAL's cache limit is restored."""
    if not in_memory:
        monkeypatch.setattr(GeoTiffWriter, "MEMORY_TMP_BYTES", 0)
    cache = gdal.GetCacheMax()
    data = sample(height=600, width=500)
    path = tmp_path / "z.tif"
    write_geotiff(
        path,
        data,
        transform=TRANSFORM,
        crs_wkt=utm20s(),
        cog=True,
        compress="ZSTD",
        level=1,
        overviews=1,
        threads=2,
    )
    assert gdal.GetCacheMax() == cache
    ds = gdal.Open(str(path))
    structure = ds.GetMetadata("IMAGE_STRUCTURE")
    assert structure["LAYOUT"] == "COG" and structure["COMPRESSION"] == "ZSTD"
    assert structure["PREDICTOR"] == "3"
    assert ds.GetRasterBand(1).GetOverviewCount() == 1
    np.testing.assert_array_equal(gdal_array(path), data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.tif"]
    write_geotiff(tmp_path / "n.tif", data, transform=TRANSFORM, crs_wkt="", cog=True, overviews=0)
    assert gdal.Open(str(tmp_path / "n.tif")).GetRasterBand(1).GetOverviewCount() == 0


def test_overview_levels() -> None:
    assert overview_levels(1033, 707) == 0
    assert overview_levels(2048, 100) == 0
    assert overview_levels(2049, 100) == 1
    assert overview_levels(7000, 7000) == 2  # 3500, 1750
    assert overview_levels(40000, 30000, display=512) == 7
