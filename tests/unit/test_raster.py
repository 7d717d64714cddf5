"""eotrend.raster: round trips checked with GDAL directly, atomicity, COG layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from osgeo import gdal, osr

from eotrend.errors import InputError
from eotrend.raster import GeoTiffWriter, block_rows, read_info, read_rows, write_geotiff

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
