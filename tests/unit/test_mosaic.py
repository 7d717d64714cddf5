"""eotrend.geo.mosaic: Earth Engine tile grouping, exact VRT mosaics, grid checks, warps;
checked against the arrays the tiles were cut from and numpy resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from eotrend.core.errors import InputError
from eotrend.geo import mosaic, raster
from eotrend.geo.mosaic import Source

gdal.UseExceptions()

X0, Y0, PX = 500000.0, 9600000.0, 30.0


def wkt(epsg: int = 32720) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def write(path, data, *, row0=0, col0=0, px=PX, nodata=None, epsg=32720, dtype=None):
    """A single-band GeoTIFF whose upper-left pixel is (row0, col0) of the grid at X0, Y0."""
    data = np.asarray(data)
    raster.write_geotiff(
        path,
        data,
        transform=(X0 + col0 * px, px, 0.0, Y0 - row0 * px, 0.0, -px),
        crs_wkt=wkt(epsg),
        nodata=nodata,
        dtype=dtype or data.dtype.name,
    )
    return Path(path)


def cut(tmp_path, data, prefix, rows, cols, **kwargs):
    """Earth-Engine-style tiles of ``data``: (path, window) per tile."""
    tiles = []
    for r in range(0, data.shape[0], rows):
        for c in range(0, data.shape[1], cols):
            name = f"{prefix}-{r:010d}-{c:010d}.tif"
            window = (slice(r, r + rows), slice(c, c + cols))
            tiles.append((write(tmp_path / name, data[window], row0=r, col0=c, **kwargs), window))
    return tiles


def read(path):
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray()


def test_group_tiles_by_export_in_offset_order(tmp_path):
    names = [
        "b_2001-0000000512-0000000000.tif",
        "a.tif",
        "b_2001-0000000000-0000000512.tif",
        "b_2001-0000000000-0000000000.TIF",
        "b_2002-0000000000-0000000000.tif",
        "c-0000000000-000000000.tif",  # 9 digits: not a tile name
    ]
    paths = [tmp_path / n for n in names]
    sources = mosaic.group_tiles(paths)
    assert [s.name.name for s in sources] == ["b_2001.tif", "a.tif", "b_2002.tif", names[5]]
    assert [p.name for p in sources[0].files] == [names[3], names[2], names[0]]
    assert [s.tiled for s in sources] == [True, False, True, False]
    assert str(sources[0]) == f"{tmp_path}/b_2001-<row>-<col>.tif (3 tiles)"
    assert str(sources[1]) == str(tmp_path / "a.tif")


def test_mosaic_is_exactly_the_untiled_array(tmp_path):
    data = np.random.default_rng(0).normal(size=(45, 70)).astype(np.float32)
    data[3:9, 5:40] = np.nan
    tiles = cut(tmp_path, data, "x", 16, 32)
    source = mosaic.group_tiles([p for p, _ in tiles[::-1]])[0]
    vrt = mosaic.build_mosaic(source, tmp_path / "m.vrt")
    info = raster.read_info(vrt)
    assert (info.width, info.height) == (70, 45)
    assert info.transform == (X0, PX, 0.0, Y0, 0.0, -PX)
    np.testing.assert_array_equal(raster.read_rows(vrt, 0, 45)[0], data)


def test_missing_tile_reads_as_nodata(tmp_path):
    data = np.random.default_rng(1).normal(size=(40, 60)).astype(np.float32)
    tiles = cut(tmp_path, data, "x", 16, 16)  # 3 x 4 tiles; the middle one goes missing
    (_, window), kept = tiles[5], tiles[:5] + tiles[6:]
    source = Source(tmp_path / "x.tif", tuple(p for p, _ in kept))
    expected = data.copy()
    expected[window] = np.nan  # float tiles without nodata: NaN where no tile is
    got = raster.read_rows(mosaic.build_mosaic(source, tmp_path / "m.vrt"), 0, 40)[0]
    np.testing.assert_array_equal(got, expected)
    # A user nodata fills the gap instead (and reads as NaN once declared).
    vrt = mosaic.build_mosaic(source, tmp_path / "m2.vrt", nodata=-9999.0)
    assert raster.read_info(vrt).nodata == -9999.0
    assert (read(vrt)[window] == -9999.0).all()


def test_tiles_own_nodata_is_kept(tmp_path):
    data = np.arange(32 * 20, dtype=np.int16).reshape(32, 20)
    data[0, :5] = -1
    tiles = cut(tmp_path, data, "x", 16, 20, nodata=-1)
    vrt = mosaic.build_mosaic(
        Source(tmp_path / "x.tif", tuple(p for p, _ in tiles)), tmp_path / "m"
    )
    expected = data.astype(np.float32)
    expected[0, :5] = np.nan
    np.testing.assert_array_equal(raster.read_rows(vrt, 0, 32)[0], expected)


def test_integer_tiles_with_gaps_need_nodata(tmp_path):
    data = np.ones((32, 32), dtype=np.int16)
    tiles = cut(tmp_path, data, "x", 16, 16)
    complete = Source(tmp_path / "x.tif", tuple(p for p, _ in tiles))
    np.testing.assert_array_equal(read(mosaic.build_mosaic(complete, tmp_path / "a.vrt")), data)
    gappy = Source(tmp_path / "x.tif", tuple(p for p, _ in tiles[:-1]))
    with pytest.raises(InputError, match=r"x-<row>-<col>\.tif \(3 tiles\).*gaps"):
        mosaic.build_mosaic(gappy, tmp_path / "b.vrt")
    vrt = mosaic.build_mosaic(gappy, tmp_path / "c.vrt", nodata=-5)
    assert (read(vrt)[16:, 16:] == -5).all()


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"px": 20.0}, "pixel width 20.0 != 30.0"),
        ({"col0": 16.5}, "off the pixel grid by"),
        ({"epsg": 32633}, "CRS EPSG:32633"),
        ({"dtype": "float64"}, "dtype float64 != float32"),
        ({"nodata": -9999.0}, "nodata -9999.0 != None"),
    ],
)
def test_stray_tile_is_named(tmp_path, kwargs, problem):
    good = write(tmp_path / "x-0000000000-0000000000.tif", np.zeros((16, 16), np.float32))
    options = {"col0": 16, **kwargs}
    stray = write(
        tmp_path / "x-0000000000-0000000016.tif", np.zeros((16, 16), np.float32), **options
    )
    with pytest.raises(InputError, match=f"x-0000000000-0000000016.tif: is a tile of .*{problem}"):
        mosaic.build_mosaic(Source(tmp_path / "x.tif", (good, stray)), tmp_path / "m.vrt")


def test_grid_difference_in_words(tmp_path):
    ref = raster.read_info(write(tmp_path / "r.tif", np.zeros((10, 12), np.float32)))

    def diff(**kwargs):
        shape = kwargs.pop("shape", (10, 12))
        path = write(tmp_path / "d.tif", np.zeros(shape, np.float32), **kwargs)
        return mosaic.grid_difference(raster.read_info(path), ref)

    assert diff() is None
    assert diff(shape=(10, 13)) == "size 13 x 10 != 12 x 10 (columns x rows)"
    assert diff(row0=-2) == (
        f"origin ({X0!r}, {Y0 + 60!r}) != ({X0!r}, {Y0!r}), "
        "a shift of (+0, -2) pixels (columns, rows)"
    )
    assert diff(epsg=32633).startswith("CRS EPSG:32633 (WGS 84 / UTM zone 33N) != EPSG:32720")
    assert diff(dtype="int16") == "data type int16 != float32"


def test_warp_average_onto_a_coarser_grid(tmp_path):
    """A 15 m raster averaged onto the 30 m reference grid equals numpy's 2 x 2 nanmean."""
    fine = np.random.default_rng(2).normal(size=(20, 24)).astype(np.float32)
    fine[0, 0] = -9999.0  # the input's own nodata: never enters the mean
    fine[2:4, 2:4] = -9999.0  # a whole coarse cell missing: NaN
    src = write(tmp_path / "fine.tif", fine, px=15.0, nodata=-9999.0)
    ref = raster.read_info(write(tmp_path / "ref.tif", np.zeros((10, 12), np.float32)))
    vrt = mosaic.warp_to_grid(src, tmp_path / "w.vrt", ref, resampling="average")
    masked = np.where(fine == -9999.0, np.nan, fine).astype(np.float64)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmean(masked.reshape(10, 2, 12, 2), axis=(1, 3))
    got = raster.read_rows(vrt, 0, 10)[0]
    assert raster.read_info(vrt).transform == ref.transform
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    assert np.isnan(got[1, 1])


def test_warp_refuses_a_rotated_reference(tmp_path):
    src = write(tmp_path / "a.tif", np.zeros((4, 4), np.float32))
    ref = raster.read_info(src)
    rotated = ref.__class__(**{**ref.__dict__, "transform": (X0, PX, 1.0, Y0, 0.0, -PX)})
    with pytest.raises(InputError, match="rotated"):
        mosaic.warp_to_grid(src, tmp_path / "w.vrt", rotated)
