"""The dataset grid: nearest valid pixel within a distance, against a brute force; scenes
on different swaths land on the same grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from osgeo import osr

from eotrend.geo import geometry as geo
from eotrend.geo import raster
from eotrend.geo.aoi import Feature, mean_lon, read_aoi
from eotrend.geo.grids import Grid, cell_centres_lonlat, dataset_grid, nearest_fill
from eotrend.sentinel3.extract import extract_to_files
from support.scenes import small_scene, write_polygons


def wkt(epsg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def brute_force(grid, lon, lat, values, max_distance_m):
    """Each cell: the value of the nearest non-NaN pixel by haversine, if close enough."""
    cell_lon, cell_lat = cell_centres_lonlat(grid)
    ok = ~np.isnan(values)
    d = geo.great_circle_m(cell_lon[..., None], cell_lat[..., None], lon[ok], lat[ok])
    nearest = np.argmin(d, axis=-1)
    return np.where(d.min(axis=-1) <= max_distance_m, values[ok][nearest], np.nan)


@pytest.mark.parametrize(
    "grid",
    [
        Grid((-61.0, 0.01, 0.0, -3.0, 0.0, -0.01), 30, 20, wkt(4326)),
        Grid((705_000.0, 1000.0, 0.0, 9_680_000.0, 0.0, -1000.0), 40, 30, wkt(32720)),
    ],
    ids=["lonlat", "utm"],
)
def test_several_variables_equal_brute_force(grid):
    rng = np.random.default_rng(4)
    lon = rng.uniform(-61.05, -60.65, 500)
    lat = rng.uniform(-3.25, -2.95, 500)
    values = rng.normal(size=(500, 3))
    values[::7, 0] = np.nan  # each variable misses other pixels
    values[::5, 1] = np.nan
    values[::7, 2] = np.nan  # same as variable 0: one shared search
    got = nearest_fill(grid, lon, lat, values, max_distance_m=1500.0)
    assert got.shape == (3, grid.height, grid.width) and got.dtype == np.float32
    for k in range(3):
        want = brute_force(grid, lon, lat, values[:, k], 1500.0).astype(np.float32)
        np.testing.assert_array_equal(got[k], want)
        np.testing.assert_array_equal(nearest_fill(grid, lon, lat, values[:, k], 1500.0), want)
    assert np.isnan(got).any() and np.isfinite(got).any()


def test_nothing_to_put_gives_nan():
    grid = Grid((0.0, 1.0, 0.0, 1.0, 0.0, -1.0), 3, 2, wkt(4326))
    empty = nearest_fill(grid, np.empty(0), np.empty(0), np.empty((0, 2)), 100.0)
    assert empty.shape == (2, 2, 3) and np.isnan(empty).all()
    nan = nearest_fill(grid, np.array([0.5]), np.array([0.5]), np.array([np.nan]), 1e6)
    assert np.isnan(nan).all()


def test_grid_across_the_antimeridian_is_narrow():
    polygon = shapely.Polygon([(179.8, 10.0), (-179.9, 10.0), (-179.9, 10.2), (179.8, 10.2)])
    features = [Feature("dateline", polygon)]
    lon0 = mean_lon(features)
    assert 179.8 < lon0 % 360 < 180.1  # between the vertices, not near 0
    grid = dataset_grid(features, lon0, "EPSG:4326", 0.01, margin=1)
    assert grid.width == round(0.3 / 0.01) + 2 and grid.height == round(0.2 / 0.01) + 2


def test_scenes_on_different_swaths_stack(tmp_path):
    """Two scenes (different centres and headings) give grids with one georeferencing,
    and each cell holds the nearest valid pixel of its scene within the distance."""
    ring = [(-60.95, -3.45), (-60.80, -3.47), (-60.78, -3.35), (-60.93, -3.33)]
    aoi = write_polygons(tmp_path / "aoi.geojson", [[ring]], names=["lake"])
    settings = {"crs": "EPSG:32720", "resolution": 500.0, "max_distance_m": 450, "margin": 2}
    infos = []
    for index, (lon, lat, heading) in enumerate([(-60.9, -3.4, 192.0), (-60.8, -3.3, 200.0)]):
        folder = tmp_path / f"scene{index}"
        product = small_scene(folder, lon, lat, heading=heading, rows=300, seed=index)
        extract_to_files(
            product, read_aoi(aoi), _whole(product), folder / "p.parquet", None,
            folder / "grid", ["Oa08_reflectance"], "none", settings,
        )  # fmt: skip
        info = raster.read_info(folder / "grid" / "Oa08_reflectance.tif")
        infos.append(info)
        pixels = pd.read_parquet(folder / "p.parquet")
        assert len(pixels) > 100
        data = raster.read_rows(folder / "grid" / "Oa08_reflectance.tif", 0, info.height)[0]
        grid = Grid(info.transform, info.width, info.height, info.crs_wkt)
        want = brute_force(
            grid,
            pixels["lon"].to_numpy(),
            pixels["lat"].to_numpy(),
            pixels["Oa08_reflectance"].to_numpy(np.float64),
            450.0,
        ).astype(np.float32)
        np.testing.assert_array_equal(data, want)
    assert infos[0].transform == infos[1].transform
    assert (infos[0].width, infos[0].height) == (infos[1].width, infos[1].height)
    assert infos[0].crs_wkt == infos[1].crs_wkt


def _whole(product):
    from eotrend.sentinel3.reader import Window, open_product

    info = open_product(product)
    return Window(0, info.rows, 0, info.columns)
