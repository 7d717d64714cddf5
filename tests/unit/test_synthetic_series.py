"""eotrend.synthetic.series: files, CRS, masks, and values against the documented truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr
from scipy import stats

from eotrend.synthetic.series import lake_mask, series_truth, write_yearly_series

gdal.UseExceptions()

W, H, SEED, NOISE = 90, 64, 7, 0.02
YEARS = range(1995, 2016)


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], np.ndarray]:
    """The written files and their values as GDAL reads them: (years, H, W), nodata kept."""
    paths = write_yearly_series(
        tmp_path_factory.mktemp("series"), width=W, height=H, seed=SEED, noise=NOISE
    )
    values = []
    for path in paths:
        ds = gdal.Open(str(path))
        values.append(ds.ReadAsArray())
    return paths, np.array(values)


def test_one_file_per_year_with_grid_crs_nodata_and_date(series) -> None:
    paths, _ = series
    assert [p.name for p in paths] == [f"ndvi_max_{y}.tif" for y in YEARS]
    for year, path in zip(YEARS, paths, strict=True):
        ds = gdal.Open(str(path))
        assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (W, H, 1)
        assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
        assert ds.GetRasterBand(1).GetNoDataValue() == -9999.0
        assert ds.GetGeoTransform() == (500000.0, 30.0, 0.0, 9600000.0, 0.0, -30.0)
        srs = osr.SpatialReference(wkt=ds.GetProjection())
        assert srs.IsProjected() and srs.GetAuthorityCode(None) == "32720"
        assert ds.GetMetadataItem("DATE") == f"{year}-07-01"


def test_values_are_truth_plus_documented_noise(series) -> None:
    _, values = series
    intercept, slope = series_truth(width=W, height=H, seed=SEED)
    for k, year in enumerate(YEARS):
        noise = np.random.default_rng([SEED, year]).standard_normal((H, W))
        expected = np.clip(intercept + slope * (year - 1995) + NOISE * noise, -1, 1)
        ok = values[k] != -9999.0
        np.testing.assert_allclose(values[k][ok], expected[ok], rtol=0, atol=1e-7)


def test_masks(series) -> None:
    _, values = series
    masked = values == -9999.0
    lake = lake_mask(width=W, height=H)
    assert lake.any() and masked[:, lake].all()  # the lake is nodata in every year
    clouds = masked[:, ~lake].mean(axis=1)  # the default masked_fraction is 0.05
    assert np.all((clouds > 0.03) & (clouds < 0.07))
    assert (masked.any(axis=0) & ~masked.all(axis=0)).any()  # masked in some years only
    assert not np.array_equal(masked[0], masked[1])


def test_regression_recovers_truth_slope(series) -> None:
    """An independent check: scipy per pixel on the files against the truth's slope."""
    _, values = series
    _, slope = series_truth(width=W, height=H, seed=SEED)
    assert slope.min() < -0.002 and slope.max() > 0.002  # gain and loss regions
    years = np.array(YEARS, dtype=float)
    rng = np.random.default_rng(0)
    errors = []
    for row, col in zip(rng.integers(0, H, 400), rng.integers(0, W, 400), strict=True):
        ok = values[:, row, col] != -9999.0
        if ok.sum() >= 10:
            fit = stats.linregress(years[ok], values[ok, row, col])
            errors.append(fit.slope - slope[row, col])
    # slope stderr with 21 yearly values and noise 0.02 is about 0.0007
    assert len(errors) > 300
    assert np.mean(np.abs(errors)) < 0.001
    assert abs(np.mean(errors)) < 0.0002


def test_deterministic_and_optional_date(tmp_path: Path) -> None:
    a = write_yearly_series(tmp_path / "a", years=[2000], width=20, height=10, seed=3)
    b = write_yearly_series(
        tmp_path / "b", years=[2000], width=20, height=10, seed=3, date_tag=False, epsg=32633
    )
    da, db = gdal.Open(str(a[0])), gdal.Open(str(b[0]))
    np.testing.assert_array_equal(da.ReadAsArray(), db.ReadAsArray())
    assert da.GetMetadataItem("DATE") == "2000-07-01"
    assert db.GetMetadataItem("DATE") is None
    assert osr.SpatialReference(wkt=db.GetProjection()).GetAuthorityCode(None) == "32633"


def test_earth_engine_tiles_and_untagged_nodata(tmp_path: Path) -> None:
    """Tiles named <prefix>-<row offset>-<col offset>.tif, placed at their offsets, hold
    exactly the untiled values; nodata_tag=False keeps the values, drops the tag."""
    common = {"years": [2000, 2001], "width": 50, "height": 30, "seed": 3}
    whole = write_yearly_series(tmp_path / "a", **common)
    tiles = write_yearly_series(tmp_path / "b", tile_size=(16, 32), nodata_tag=False, **common)
    offsets = [(0, 0), (0, 32), (16, 0), (16, 32)]
    assert [p.name for p in tiles] == [
        f"ndvi_max_{y}-{r:010d}-{c:010d}.tif" for y in (2000, 2001) for r, c in offsets
    ]
    for year_whole, year_tiles in zip(whole, (tiles[:4], tiles[4:]), strict=True):
        ds = gdal.Open(str(year_whole))
        expected, (x0, px, _, y0, _, py) = ds.ReadAsArray(), ds.GetGeoTransform()
        mosaic = np.full_like(expected, np.nan)
        for (r, c), path in zip(offsets, year_tiles, strict=True):
            tile = gdal.Open(str(path))
            band = tile.GetRasterBand(1)
            assert band.GetNoDataValue() is None
            assert tile.GetGeoTransform() == (x0 + c * px, px, 0.0, y0 + r * py, 0.0, py)
            mosaic[r : r + tile.RasterYSize, c : c + tile.RasterXSize] = band.ReadAsArray()
        np.testing.assert_array_equal(mosaic, expected)
        assert (expected == -9999.0).any()
